import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PARTIAL_MARK } from '../npz/atomic-file.js';

const FOREIGN_STALE_MS = 10 * 60_000;

/**
 * Removes temporary files of killed captures (`.name.partial-PID-xxxx`): those of processes no
 * longer running on this machine, and any untouched for ten minutes (a writer on another
 * host of a shared folder writes continuously, so an old one is dead). Returns what it removed.
 */
export async function removeStalePartials(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const at = name.indexOf(PARTIAL_MARK);
    if (!name.startsWith('.') || at < 0) continue;
    const pid = Number(name.slice(at + PARTIAL_MARK.length).split('-')[0]);
    const path = join(dir, name);
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => -1);
    if (age < 0) continue;
    if (!isAlive(pid) || age > FOREIGN_STALE_MS) {
      await unlink(path).catch(() => undefined);
      removed.push(path);
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
