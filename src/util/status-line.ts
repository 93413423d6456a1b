/**
 * One status line for every progress display (capture, analyze, fidelity, downloads): on a
 * terminal it is redrawn in place; without one (a log file, a Slurm job) it is written as whole
 * lines, at most one every LOG_LINE_INTERVAL_MS, plus the last state, so a 7-hour run leaves a
 * readable log instead of a line per unit. The text is the same in both cases.
 */

/** Where progress goes: a terminal when `isTTY` is true. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Milliseconds on any fixed origin: Date.now in use, a fake clock in tests. */
export type Clock = () => number;

/** Least time between two lines in a log. */
export const LOG_LINE_INTERVAL_MS = 10_000;

/** How one status line is shown. */
export interface StatusLineOptions {
  stream: ProgressStream;
  now?: Clock;
  /** on a terminal, least time between two redraws for routine updates (default 0: every update) */
  ttyRedrawMs?: number;
  /** in a log, least time between two lines (default LOG_LINE_INTERVAL_MS) */
  logLineMs?: number;
}

/** A status line that progress displays render their text into. */
export interface StatusLine {
  /** a routine update (a unit done, bytes received): shown when its throttle allows */
  update(text: () => string): void;
  /** a milestone (a prompt written): always redrawn on a terminal; in a log, throttled like update */
  step(text: () => string): void;
  /** the last state: always shown (in a log, unless it is the line just written); ends the line; idempotent */
  finish(text?: () => string): void;
}

/** A status line on `stream`; `text` callbacks are only called when something is written. */
export function createStatusLine(options: StatusLineOptions): StatusLine {
  const { stream } = options;
  const now = options.now ?? Date.now;
  const tty = stream.isTTY === true;
  const ttyRedrawMs = options.ttyRedrawMs ?? 0;
  const logLineMs = options.logLineMs ?? LOG_LINE_INTERVAL_MS;
  let lastShownAt = -Infinity;
  let lastText: string | undefined;
  let pending: (() => string) | undefined; // the newest state not shown yet
  let finished = false;

  const show = (text: string) => {
    stream.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
    lastText = text;
    lastShownAt = now();
    pending = undefined;
  };
  const offer = (text: () => string, milestone: boolean) => {
    if (finished) return;
    pending = text;
    const since = now() - lastShownAt;
    if (tty ? milestone || since >= ttyRedrawMs : since >= logLineMs) show(text());
  };
  return {
    update: (text) => offer(text, false),
    step: (text) => offer(text, true),
    finish(text) {
      if (finished) return;
      finished = true;
      const last = text ?? pending;
      if (last) {
        const t = last();
        if (tty || t !== lastText) show(t);
      }
      if (tty && lastText !== undefined) stream.write('\n');
    },
  };
}
