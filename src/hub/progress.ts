import { formatBytes } from '../util/format.js';

/** Reports bytes received for one file. */
export interface Progress {
  advance(bytes: number): void;
  done(): void;
}

export const SILENT_PROGRESS: Progress = { advance() {}, done() {} };

/**
 * A one-line progress bar on stderr, redrawn at most 10 times a second; when stderr is not
 * a terminal (logs, CI) it prints a single line per file at the end instead.
 */
export function stderrProgress(label: string, totalBytes: number, startBytes = 0): Progress {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  let bytes = startBytes;
  let lastDraw = 0;
  const t0 = Date.now();
  const draw = () => {
    const frac = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    stream.write(`\r${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(bytes)}/${formatBytes(totalBytes)}`);
  };
  return {
    advance(n) {
      bytes += n;
      const now = Date.now();
      if (tty && now - lastDraw > 100) {
        lastDraw = now;
        draw();
      }
    },
    done() {
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (tty) {
        draw();
        stream.write(` ${secs}s\n`);
      } else {
        stream.write(`${label}: ${formatBytes(bytes)} in ${secs}s\n`);
      }
    },
  };
}
