import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { META_FILE } from '../corpus/naming.js';
import { hostTag, isProcessAlive, parseTempSuffix, tempSuffix } from '../util/temp-name.js';

const STALE_MS = 120_000;
const WAIT_MS = 10 * 60_000;

/**
 * Runs `fn` holding `meta.json.lock` in `dir`, so shards of an array job sharing one corpus
 * folder never lose each other's meta.json updates. The lock names its holder
 * (`PID-RANDOM@HOST`): a lock of a dead process of this host is taken over at once (a
 * cancelled array task must not stall the next one), any lock older than two minutes too
 * (its holder was on another node and died: the lock is held for milliseconds).
 */
export async function withMetaLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, `${META_FILE}.lock`);
  const me = tempSuffix();
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${me}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const stale = await staleHolder(lock);
      if (stale !== undefined) await breakLock(lock, stale);
      else if (Date.now() > deadline) throw new Error(`${lock} has been held for 10 minutes; remove it if no capture is running`);
      else await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
  }
  try {
    return await fn();
  } finally {
    // only our own lock: never one a waiter took over after judging ours stale
    if ((await readFile(lock, 'utf8').catch(() => '')).trim() === me) await unlink(lock).catch(() => undefined);
  }
}

/** The lock's text when its holder is gone, else undefined. */
async function staleHolder(lock: string): Promise<string | undefined> {
  const [text, mtimeMs] = await Promise.all([
    readFile(lock, 'utf8').catch(() => undefined),
    stat(lock).then((s) => s.mtimeMs, () => undefined),
  ]);
  if (text === undefined || mtimeMs === undefined) return undefined; // gone meanwhile: try again
  const holder = parseTempSuffix(text.trim());
  if (holder && (holder.host === undefined || holder.host === hostTag()) && !isProcessAlive(holder.pid)) return text;
  // an empty lock is one whose holder has not written its name yet, unless it is old
  return Date.now() - mtimeMs > STALE_MS ? text : undefined;
}

/**
 * Moves the stale lock aside under a name of our own and deletes it. If what was moved is not
 * the lock judged stale (another waiter broke it and took the lock in between), it is put back
 * (link fails if the name was taken meanwhile), so a live holder's lock is not lost.
 */
async function breakLock(lock: string, staleText: string): Promise<void> {
  const aside = `${lock}.stale-${tempSuffix()}`;
  try {
    await rename(lock, aside);
  } catch {
    return; // another waiter moved it first
  }
  const moved = await readFile(aside, 'utf8').catch(() => staleText);
  if (moved !== staleText) await link(aside, lock).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}
