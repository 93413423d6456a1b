import { formatDuration } from '../util/format.js';
import { createStatusLine, type Clock, type ProgressStream } from '../util/status-line.js';

/**
 * A per-unit progress bar with ETA on stderr (analyze and fidelity): redrawn in place on a
 * terminal at every unit, a line at most every 10 s in logs (see src/util/status-line.ts).
 */
export interface Progress {
  tick(): void;
  done(): void;
}

/** Progress over `total` units written to `stream` (silent when total is 0 or quiet). */
export function createProgress(total: number, stream: ProgressStream, quiet = false, now: Clock = Date.now): Progress {
  const started = now();
  let count = 0;
  const line = createStatusLine({ stream, now });
  const render = (): string => {
    const seconds = (now() - started) / 1000;
    const per = count > 0 ? seconds / count : NaN;
    const eta = count > 0 ? per * (total - count) : NaN;
    const width = 24;
    const filled = Math.round((count / total) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} units  ${Number.isFinite(per) ? per.toFixed(2) : '-'} s/unit  ETA ${formatDuration(eta)}`;
  };
  const silent = quiet || total === 0;
  return {
    tick() {
      count++;
      if (!silent) line.update(render);
    },
    done() {
      if (!silent) line.finish();
    },
  };
}
