/** `prompt_{task}__p{j}.npz`: the published corpus's file name for one (task, prompt). */
export function corpusFileName(task: string, promptIdx: number): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(task)) throw new Error(`task name "${task}" must be [A-Za-z0-9_.-]`);
  if (!Number.isInteger(promptIdx) || promptIdx < 0) throw new Error(`prompt index must be a non-negative integer, got ${promptIdx}`);
  return `prompt_${task}__p${promptIdx}.npz`;
}

const NAME_RE = /^prompt_(.+)__p(\d+)\.npz$/;

/** The (task, prompt) a corpus file name encodes, or undefined for any other name. */
export function parseCorpusFileName(fileName: string): { task: string; promptIdx: number } | undefined {
  const m = NAME_RE.exec(fileName);
  if (!m) return undefined;
  return { task: m[1]!, promptIdx: Number(m[2]) };
}

export const META_FILE = 'meta.json';
