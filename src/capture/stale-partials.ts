import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PARTIAL_MARK } from '../npz/atomic-file.js';
import { hostTag, isProcessAlive, parseTempSuffix } from '../util/temp-name.js';

const FOREIGN_STALE_MS = 10 * 60_000;

/**
 * Removes temporary files of killed captures (`.name.partial-PID-RANDOM@HOST`): those written
 * on this machine by processes no longer running, and any untouched for ten minutes. A file
 * of another host (array tasks on several nodes sharing the folder) is judged by age only —
 * its pid means nothing here — and a live writer touches its file continuously, since a file
 * is opened only once its rows are in memory. Returns what it removed.
 */
export async function removeStalePartials(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const here = hostTag();
  for (const name of await readdir(dir)) {
    const at = name.indexOf(PARTIAL_MARK);
    if (!name.startsWith('.') || at < 0) continue;
    const writer = parseTempSuffix(name.slice(at + PARTIAL_MARK.length));
    const path = join(dir, name);
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => -1);
    if (age < 0) continue;
    const local = writer !== undefined && (writer.host === undefined || writer.host === here);
    const deadHere = local && !isProcessAlive(writer.pid);
    if (deadHere || age > FOREIGN_STALE_MS) {
      await unlink(path).catch(() => undefined);
      removed.push(path);
    }
  }
  return removed;
}
