import { formatDuration } from '../util/format.js';

/** Live status of a capture run on stderr: a redrawn bar on a terminal, one line per prompt in logs. */
export interface CaptureProgress {
  /** tokens of the current prompt prefilled so far */
  update(label: string, tokensInPrompt: number): void;
  /** a prompt finished (written or skipped) */
  promptDone(label: string, outcome: 'written' | 'skipped', tokens: number): void;
  end(): void;
}

export function createCaptureProgress(totalPrompts: number, stream: { write(s: string): unknown; isTTY?: boolean } = process.stderr): CaptureProgress {
  const tty = Boolean(stream.isTTY);
  const started = Date.now();
  let done = 0;
  let tokensDone = 0; // prefilled tokens of finished prompts (skips excluded)
  let prefilled = 0; // prompts actually prefilled, for the ETA
  let lastDraw = 0;
  const rate = (extra: number) => (tokensDone + extra) / Math.max(1e-3, (Date.now() - started) / 1000);
  const eta = () => {
    if (prefilled === 0) return NaN;
    const perPrompt = (Date.now() - started) / 1000 / prefilled;
    return perPrompt * (totalPrompts - done);
  };
  const line = (label: string, extra: number) => {
    const width = 20;
    const filled = Math.round((done / Math.max(1, totalPrompts)) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${totalPrompts} prompts  ${label}  ${Math.round(rate(extra))} tok/s  ETA ${formatDuration(eta())}`;
  };
  return {
    update(label, tokensInPrompt) {
      if (!tty || Date.now() - lastDraw < 200) return;
      lastDraw = Date.now();
      stream.write(`\r${line(label, tokensInPrompt)}\x1b[K`);
    },
    promptDone(label, outcome, tokens) {
      done++;
      if (outcome === 'written') {
        tokensDone += tokens;
        prefilled++;
      }
      const text = line(`${label} ${outcome}`, 0);
      stream.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
    },
    end() {
      if (tty) stream.write('\n');
    },
  };
}
