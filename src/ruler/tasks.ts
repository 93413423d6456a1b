import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

/** meta/tasks.json: the canonical RULER task list and where the dataset lives. */
export interface TaskCatalog {
  dataset: { repo: string; data_dir: string; split: string; rows_per_task: number };
  /** the 13 RULER tasks, in the published order */
  tasks: string[];
  /** the 11 tasks the offline generators can make (all but qa_1, qa_2) */
  synthetic_tasks: string[];
  /** generation budget per task family (RULER constants.py), counted in the token budget */
  max_new_tokens: Record<string, number>;
}

let cached: TaskCatalog | undefined;

/**
 * Reads meta/tasks.json (two folders above this module, in src/ and in dist/ alike), once.
 * The file is the single place the task list is written down.
 */
export function taskCatalog(): TaskCatalog {
  cached ??= JSON.parse(readFileSync(new URL('../../meta/tasks.json', import.meta.url), 'utf8')) as TaskCatalog;
  return cached;
}

/** Throws UserError naming the valid tasks unless `task` is one of the 13. */
export function checkTask(task: string): void {
  const { tasks } = taskCatalog();
  if (!tasks.includes(task)) throw new UserError(`unknown RULER task "${task}"; valid tasks: ${tasks.join(', ')}`);
}

/** RULER's max_new_tokens of a task: by family, the part of the name before "_". */
export function maxNewTokensOf(task: string): number {
  const family = task.split('_')[0]!;
  const n = taskCatalog().max_new_tokens[family];
  if (n === undefined) throw new UserError(`unknown RULER task family "${family}"`);
  return n;
}
