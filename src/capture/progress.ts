import { formatDuration } from '../util/format.js';
import { createStatusLine, type Clock, type ProgressStream } from '../util/status-line.js';

/**
 * Live status of a capture run on stderr: a bar redrawn on a terminal (every 200 ms while a
 * prompt prefills, and at each prompt done), a line at most every 10 s in logs.
 */
export interface CaptureProgress {
  /** tokens of the current prompt prefilled so far */
  update(label: string, tokensInPrompt: number): void;
  /** a prompt finished (written or skipped) */
  promptDone(label: string, outcome: 'written' | 'skipped', tokens: number): void;
  end(): void;
}

/** Terminal redraws while a prompt prefills, at most this often. */
const TTY_REDRAW_MS = 200;

export function createCaptureProgress(totalPrompts: number, stream: ProgressStream = process.stderr, now: Clock = Date.now): CaptureProgress {
  const started = now();
  const status = createStatusLine({ stream, now, ttyRedrawMs: TTY_REDRAW_MS });
  let done = 0;
  let tokensDone = 0; // prefilled tokens of finished prompts (skips excluded)
  let prefilled = 0; // prompts actually prefilled, for the ETA
  const rate = (extra: number) => (tokensDone + extra) / Math.max(1e-3, (now() - started) / 1000);
  const eta = () => {
    if (prefilled === 0) return NaN;
    const perPrompt = (now() - started) / 1000 / prefilled;
    return perPrompt * (totalPrompts - done);
  };
  const line = (label: string, extra: number) => {
    const width = 20;
    const filled = Math.round((done / Math.max(1, totalPrompts)) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${totalPrompts} prompts  ${label}  ${Math.round(rate(extra))} tok/s  ETA ${formatDuration(eta())}`;
  };
  return {
    update(label, tokensInPrompt) {
      status.update(() => line(label, tokensInPrompt));
    },
    promptDone(label, outcome, tokens) {
      done++;
      if (outcome === 'written') {
        tokensDone += tokens;
        prefilled++;
      }
      const text = line(`${label} ${outcome}`, 0);
      status.step(() => text);
    },
    end() {
      status.finish();
    },
  };
}
