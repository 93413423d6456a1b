import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../npz/atomic-file.js';
import { META_FILE } from './naming.js';

/**
 * meta.json beside the npz files. Every field is optional when read, because the published
 * corpus may omit some (then `poc analyze --kv-heads` supplies what is missing); the capture
 * pipeline always writes them all.
 */
export interface CorpusMeta {
  model?: {
    name?: string;
    num_hidden_layers?: number;
    num_attention_heads?: number;
    num_key_value_heads?: number;
    head_dim?: number;
    hidden_size?: number;
    rope_theta?: number;
    rope_scaling?: unknown;
    [key: string]: unknown;
  };
  capture?: {
    max_length?: number;
    n_sink?: number;
    t_sub?: number;
    seed?: number;
    source?: string;
    prompt_format?: string;
    dtype?: string;
    [key: string]: unknown;
  };
  tool?: { name?: string; version?: string; [key: string]: unknown };
  /** task -> captured prompt indices, ascending */
  tasks?: Record<string, number[]>;
  [key: string]: unknown;
}

export class CorpusMetaError extends Error {
  override name = 'CorpusMetaError';
}

/** Reads `dir/meta.json`; undefined when there is none, CorpusMetaError when it is not valid JSON of the right shape. */
export async function readCorpusMeta(dir: string): Promise<CorpusMeta | undefined> {
  const path = join(dir, META_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CorpusMetaError(`${path}: cannot read (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CorpusMetaError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CorpusMetaError(`${path}: expected a JSON object`);
  }
  const meta = parsed as CorpusMeta;
  for (const key of ['model', 'capture', 'tool', 'tasks'] as const) {
    const v = meta[key];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) {
      throw new CorpusMetaError(`${path}: "${key}" must be an object`);
    }
  }
  for (const [task, idx] of Object.entries(meta.tasks ?? {})) {
    if (!Array.isArray(idx) || !idx.every((i) => Number.isInteger(i) && i >= 0)) {
      throw new CorpusMetaError(`${path}: tasks.${task} must be a list of prompt indices`);
    }
  }
  return meta;
}

/** Writes meta.json atomically (temp file, fsync, rename): a kill never leaves it half-written. */
export async function writeCorpusMeta(dir: string, meta: CorpusMeta): Promise<void> {
  await writeFileAtomic(join(dir, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
}

/**
 * Optional fields recorded since a version of poc that wrote meta.json without them: a corpus
 * whose capture section lacks one was captured without that field in its files.
 */
const ABSENT_MEANS_FALSE = new Set(['with_values']);

/**
 * Settings of two captures that must agree for their files to share one corpus, as
 * "section.key: ours vs theirs" lines; empty when they agree.
 */
export function metaConflicts(existing: CorpusMeta, incoming: CorpusMeta): string[] {
  const out: string[] = [];
  for (const section of ['model', 'capture'] as const) {
    const a = existing[section] ?? {};
    const b = incoming[section] ?? {};
    for (const key of Object.keys(b)) {
      const absentMeansFalse = section === 'capture' && existing.capture !== undefined && ABSENT_MEANS_FALSE.has(key);
      if (!(key in a) && !absentMeansFalse) continue;
      const va = key in a ? JSON.stringify(a[key]) : 'false';
      const vb = JSON.stringify(b[key]);
      if (va !== vb) out.push(`${section}.${key}: ${key in a ? va : 'absent (false)'} in meta.json vs ${vb} now`);
    }
  }
  return out;
}

/** meta with `incoming`'s tasks added to `existing`'s (sorted, deduplicated); callers check metaConflicts first. */
export function mergeCorpusMeta(existing: CorpusMeta | undefined, incoming: CorpusMeta): CorpusMeta {
  if (!existing) return { ...incoming, tasks: sortTasks(incoming.tasks ?? {}) };
  const tasks: Record<string, number[]> = { ...(existing.tasks ?? {}) };
  for (const [task, idx] of Object.entries(incoming.tasks ?? {})) {
    tasks[task] = [...new Set([...(tasks[task] ?? []), ...idx])];
  }
  return {
    ...existing,
    ...incoming,
    model: { ...(existing.model ?? {}), ...(incoming.model ?? {}) },
    capture: { ...(existing.capture ?? {}), ...(incoming.capture ?? {}) },
    tasks: sortTasks(tasks),
  };
}

function sortTasks(tasks: Record<string, number[]>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const task of Object.keys(tasks).sort()) out[task] = [...new Set(tasks[task])].sort((a, b) => a - b);
  return out;
}
