import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCorpusFileName } from './naming.js';

export interface CorpusFileRef {
  path: string;
  task: string;
  promptIdx: number;
}

/** The corpus files in `dir` (by name), sorted by task then prompt index; partial files are ignored. */
export async function listCorpusFiles(dir: string): Promise<CorpusFileRef[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `corpus folder ${dir} does not exist` : `cannot list ${dir} (${code})`);
  }
  const out: CorpusFileRef[] = [];
  for (const name of names) {
    const parsed = parseCorpusFileName(name);
    if (parsed) out.push({ path: join(dir, name), ...parsed });
  }
  return out.sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : a.promptIdx - b.promptIdx));
}
