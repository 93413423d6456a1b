import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { META_FILE } from '../corpus/naming.js';

const STALE_MS = 120_000;

/**
 * Runs `fn` holding `meta.json.lock` in `dir`, so shards of an array job sharing one corpus
 * folder never lose each other's meta.json updates. A lock older than two minutes is taken
 * as left by a killed process.
 */
export async function withMetaLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, `${META_FILE}.lock`);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_MS) await unlink(lock).catch(() => undefined);
      else if (Date.now() > deadline) throw new Error(`${lock} has been held for 10 minutes; remove it if no capture is running`);
      else await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
