import { homedir } from 'node:os';
import { join } from 'node:path';

/** The poc cache folder (tiny models, capture graphs, KS power tables): $POC_CACHE, default ~/.cache/poc. */
export function pocCacheDir(): string {
  return process.env.POC_CACHE ?? join(homedir(), '.cache', 'poc');
}
