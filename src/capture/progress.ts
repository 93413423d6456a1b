import { formatDuration } from '../util/format.js';
import { createStatusLine, type Clock, type ProgressStream } from '../util/status-line.js';

/**
 * Live status of a capture run on stderr: a bar redrawn on a terminal (every 200 ms while a
 * prompt prefills, and at each prompt done), a line at most every 10 s in logs.
 */
export interface CaptureProgress {
  /**
   * tokens of the current prompt prefilled so far (layer-weighted in layer-by-layer modes), of
   * `promptTokens` when given: the line then shows the prompt's percentage, and the ETA counts
   * the part done, so a run of long prompts (an 8B model at 16K: an hour per prompt on a CPU)
   * has an estimate before its first prompt ends
   */
  update(label: string, tokensInPrompt: number, promptTokens?: number): void;
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
  let fraction = 0; // of the prompt being prefilled
  const eta = () => {
    const worked = prefilled + fraction;
    if (worked <= 0) return NaN;
    const perPrompt = (now() - started) / 1000 / worked;
    return perPrompt * Math.max(0, totalPrompts - done - fraction);
  };
  const line = (label: string, extra: number) => {
    const width = 20;
    const filled = Math.round((done / Math.max(1, totalPrompts)) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${totalPrompts} prompts  ${label}  ${Math.round(rate(extra))} tok/s  ETA ${formatDuration(eta())}`;
  };
  return {
    update(label, tokensInPrompt, promptTokens) {
      const known = promptTokens !== undefined && promptTokens > 0;
      fraction = known ? Math.min(1, tokensInPrompt / promptTokens) : 0;
      status.update(() => line(known ? `${label} ${Math.floor(fraction * 100)}%` : label, tokensInPrompt));
    },
    promptDone(label, outcome, tokens) {
      fraction = 0;
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
