import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { downloadRepoFiles } from '../hub/download.js';
import type { HubSettings } from '../hub/settings.js';
import { listParquetFiles, readRulerParquet } from './parquet-source.js';
import { essayWords } from './synthetic/haystack.js';
import { generateSynthetic } from './synthetic/index.js';
import { checkTask, taskCatalog } from './tasks.js';
import type { CountTokens, RulerRow } from './types.js';

export interface LoadRulerOptions {
  /** "hub" (simonjegou/ruler), "synthetic" (offline generators) or a parquet file/folder path */
  source: string;
  task: string;
  /** row indices within the task's rows */
  promptIdx: number[];
  /** synthetic only: RULER's max_seq_length, prompt tokens + max_new_tokens <= maxTokens */
  maxTokens?: number;
  /** synthetic only: the model tokenizer's count, no special tokens */
  countTokens?: CountTokens;
  /** synthetic only: rows depend on (seed, task, promptIdx) alone */
  seed?: number;
  /** synthetic only: essay text file for the essay-haystack tasks (default: noise haystack) */
  haystackFile?: string;
  /** hub only: endpoint, token and cache (default: from the environment) */
  hubSettings?: HubSettings;
  /** hub only: progress bar on stderr (default true) */
  progress?: boolean;
}

const OFFLINE_WAY_OUT = 'use --source synthetic for the offline generators, or --source PATH with a local parquet of simonjegou/ruler, or set HF_ENDPOINT to a reachable mirror';

/**
 * The RULER rows of one task at the given prompt indices, from the hub dataset, a local
 * parquet, or the offline generators; every user mistake is one UserError line.
 */
export async function loadRulerRows(options: LoadRulerOptions): Promise<RulerRow[]> {
  checkTask(options.task);
  const { rows_per_task: rowsPerTask, repo, data_dir: dataDir } = taskCatalog().dataset;
  for (const idx of options.promptIdx) {
    if (!Number.isInteger(idx) || idx < 0) throw new UserError(`prompt_idx must be a non-negative integer, got ${idx}`);
  }
  if (options.source === 'synthetic') {
    const { maxTokens, countTokens } = options;
    if (maxTokens === undefined || countTokens === undefined) throw new Error('synthetic RULER rows need maxTokens and countTokens');
    const essay = options.haystackFile ? readEssay(options.haystackFile) : undefined;
    return options.promptIdx.map((promptIdx) => {
      if (promptIdx >= rowsPerTask) {
        throw new UserError(`prompt_idx ${promptIdx} is out of range: RULER has ${rowsPerTask} rows per task (0..${rowsPerTask - 1})`);
      }
      return generateSynthetic({ task: options.task, promptIdx, maxTokens, countTokens, seed: options.seed ?? 0, essayWords: essay });
    });
  }
  if (options.source === 'hub') {
    const result = await downloadRepoFiles({
      repo: { type: 'dataset', name: repo },
      include: (p) => p.startsWith(`${dataDir}/`) && p.endsWith('.parquet'),
      settings: options.hubSettings,
      progress: options.progress,
      hint: OFFLINE_WAY_OUT,
    });
    const files = result.files.map((f) => f.localPath);
    return readRulerParquet(files, options.task, options.promptIdx, `${repo}/${dataDir}`);
  }
  return readRulerParquet(listParquetFiles(options.source), options.task, options.promptIdx, options.source);
}

function readEssay(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`cannot read the haystack file ${path}`);
  }
  const words = essayWords(text);
  if (words.length < 50) throw new UserError(`the haystack file ${path} has ${words.length} words; give an essay of at least 50`);
  return words;
}

/** --prompts N means prompt_idx 0..N-1 unless --prompt-idx lists them. */
export function selectPromptIndices(prompts: number, promptIdx?: number[]): number[] {
  return promptIdx && promptIdx.length > 0 ? [...promptIdx] : Array.from({ length: prompts }, (_, i) => i);
}
