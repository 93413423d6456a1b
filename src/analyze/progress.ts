import { formatDuration } from '../util/format.js';

/**
 * A per-unit progress bar with ETA on stderr: redrawn in place on a terminal, one line
 * every ~5 % (or 60 s) otherwise, so logs of batch jobs stay readable.
 */
export interface Progress {
  tick(): void;
  done(): void;
}

/** Progress over `total` units written to `stream` (silent when total is 0 or quiet). */
export function createProgress(total: number, stream: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }, quiet = false): Progress {
  const started = Date.now();
  let count = 0, lastLine = 0, lastPct = -1;
  const tty = Boolean((stream as { isTTY?: boolean }).isTTY);
  const render = (): string => {
    const seconds = (Date.now() - started) / 1000;
    const per = count > 0 ? seconds / count : NaN;
    const eta = count > 0 ? per * (total - count) : NaN;
    const width = 24;
    const filled = Math.round((count / total) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} units  ${Number.isFinite(per) ? per.toFixed(2) : '-'} s/unit  ETA ${formatDuration(eta)}`;
  };
  return {
    tick() {
      count++;
      if (quiet || total === 0) return;
      const pct = Math.floor((count / total) * 20);
      if (tty) stream.write(`\r${render()}`);
      else if (pct !== lastPct || Date.now() - lastLine > 60_000 || count === total) {
        stream.write(`${render()}\n`);
        lastPct = pct;
        lastLine = Date.now();
      }
    },
    done() {
      if (!quiet && tty && total > 0) stream.write('\n');
    },
  };
}
