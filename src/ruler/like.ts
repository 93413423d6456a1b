import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { checkTask } from './tasks.js';

/** What `--like META.json` takes from an existing corpus: the jobs and the capture settings. */
export interface LikeSpec {
  /** task -> prompt indices, in the meta.json's order */
  tasks: Record<string, number[]>;
  /** capture settings present in meta.json (absent keys keep the command-line defaults) */
  capture: {
    maxLength?: number;
    nSink?: number;
    tSub?: number;
    seed?: number;
    source?: string;
    promptFormat?: 'chat' | 'raw';
  };
  /** model.name, when recorded */
  modelName?: string;
}

/**
 * Reads a corpus meta.json (the contract's `tasks` and `capture` blocks) so the same
 * prompts can be captured again; unknown tasks or malformed fields are UserErrors.
 */
export function readLikeMeta(path: string): LikeSpec {
  let meta: unknown;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read --like ${path} as JSON (${(err as Error).message})`);
  }
  if (!isObject(meta) || !isObject(meta.tasks)) throw new UserError(`--like ${path} has no "tasks" object (task -> prompt indices)`);
  const tasks: Record<string, number[]> = {};
  for (const [task, idx] of Object.entries(meta.tasks)) {
    checkTask(task);
    if (!Array.isArray(idx) || !idx.every((i) => Number.isInteger(i) && i >= 0)) {
      throw new UserError(`--like ${path}: tasks.${task} must be a list of non-negative integers`);
    }
    tasks[task] = idx as number[];
  }
  if (Object.keys(tasks).length === 0) throw new UserError(`--like ${path} lists no tasks`);
  const cap = isObject(meta.capture) ? meta.capture : {};
  const int = (key: string): number | undefined => {
    const v = cap[key];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0) throw new UserError(`--like ${path}: capture.${key} must be a non-negative integer`);
    return v as number;
  };
  const format = cap.prompt_format;
  if (format !== undefined && format !== 'chat' && format !== 'raw') {
    throw new UserError(`--like ${path}: capture.prompt_format must be "chat" or "raw"`);
  }
  const model = isObject(meta.model) ? meta.model : {};
  return {
    tasks,
    capture: {
      maxLength: int('max_length'),
      nSink: int('n_sink'),
      tSub: int('t_sub'),
      seed: int('seed'),
      source: typeof cap.source === 'string' ? cap.source : undefined,
      promptFormat: format as 'chat' | 'raw' | undefined,
    },
    modelName: typeof model.name === 'string' ? model.name : undefined,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
