import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempSuffix } from '../util/temp-name.js';

/** Marks in-progress files (`.NAME.partial-PID-RANDOM@HOST`): a name that never matches a finished corpus file. */
export const PARTIAL_MARK = '.partial-';

/** A file written under a temporary name in its final folder and renamed into place only when complete. */
export interface AtomicFile {
  readonly fh: FileHandle;
  readonly tempPath: string;
  readonly finalPath: string;
  /** fsync, close and rename onto finalPath, then fsync the folder so the rename survives a crash */
  commit(): Promise<void>;
  /** close and delete the temporary file (safe to call twice, or after commit) */
  abort(): Promise<void>;
}

export async function createAtomicFile(finalPath: string): Promise<AtomicFile> {
  const dir = dirname(finalPath);
  const tempPath = join(dir, `.${basename(finalPath)}${PARTIAL_MARK}${tempSuffix()}`);
  const fh = await open(tempPath, 'wx');
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    fh,
    tempPath,
    finalPath,
    async commit() {
      if (state !== 'open') throw new Error(`cannot commit ${finalPath}: already ${state}`);
      await fh.sync();
      await fh.close();
      await rename(tempPath, finalPath);
      state = 'committed';
      await syncDir(dir);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await fh.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
    },
  };
}

async function syncDir(dir: string): Promise<void> {
  let dh: FileHandle | undefined;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/** Writes small text (meta.json) atomically. */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array): Promise<void> {
  const f = await createAtomicFile(finalPath);
  try {
    await f.fh.writeFile(data);
    await f.commit();
  } catch (err) {
    await f.abort();
    throw err;
  }
}
