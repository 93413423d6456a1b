import { formatBytes } from '../util/format.js';
import { createStatusLine, type Clock, type ProgressStream } from '../util/status-line.js';

/** Reports bytes received for one file. */
export interface Progress {
  advance(bytes: number): void;
  done(): void;
}

export const SILENT_PROGRESS: Progress = { advance() {}, done() {} };

/** Terminal redraws at most this often. */
const TTY_REDRAW_MS = 100;

/**
 * A progress bar for one download on stderr: redrawn at most 10 times a second on a terminal,
 * a line at most every 10 s in logs, and the final state with the elapsed time in both.
 */
export function stderrProgress(label: string, totalBytes: number, startBytes = 0, stream: ProgressStream = process.stderr, now: Clock = Date.now): Progress {
  let bytes = startBytes;
  const t0 = now();
  const status = createStatusLine({ stream, now, ttyRedrawMs: TTY_REDRAW_MS });
  const bar = () => {
    const frac = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(bytes)}/${formatBytes(totalBytes)}`;
  };
  return {
    advance(n) {
      bytes += n;
      status.update(bar);
    },
    done() {
      status.finish(() => `${bar()} ${((now() - t0) / 1000).toFixed(1)}s`);
    },
  };
}
