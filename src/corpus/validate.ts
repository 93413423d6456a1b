import { basename } from 'node:path';
import { openNpz, type NpzReader } from '../npz/npz-reader.js';
import type { CorpusMeta } from './meta.js';
import { parseCorpusFileName } from './naming.js';
import { checkCorpusFields, dimsFromFields, type CorpusDims } from './schema.js';

export interface CorpusFileReport {
  path: string;
  ok: boolean;
  /** one readable line per problem; empty when ok */
  problems: string[];
  dims?: CorpusDims;
  task?: string;
  promptIdx?: number;
  kLen?: number;
}

/** Sizes meta.json promises, in the schema's terms. */
export function dimsFromMeta(meta: CorpusMeta | undefined): Partial<CorpusDims> {
  const m = meta?.model ?? {};
  const hidden = m.hidden_size;
  const heads = m.num_attention_heads;
  return {
    nLayers: m.num_hidden_layers,
    nQHeads: heads,
    nKvHeads: m.num_key_value_heads,
    headDim: m.head_dim ?? (hidden !== undefined && heads ? hidden / heads : undefined),
    hiddenSize: hidden,
    tSub: meta?.capture?.t_sub,
  };
}

/**
 * Validates an open corpus file: the schema, the scalars against the file name, and the
 * positions (sorted, unique, >= n_sink, < k_len). Reads only the small fields.
 */
export async function validateCorpusReader(reader: NpzReader, meta?: CorpusMeta): Promise<CorpusFileReport> {
  const problems = checkCorpusFields(reader.fields, dimsFromMeta(meta));
  const report: CorpusFileReport = { path: reader.path, ok: false, problems, dims: dimsFromFields(reader.fields) };
  const has = (name: string, dtype: string) => reader.field(name)?.dtype === dtype;
  if (has('task', 'unicode') && reader.field('task')!.shape.length === 0) report.task = ((await reader.read('task')).data as string[])[0];
  if (has('prompt_idx', 'int64') && reader.field('prompt_idx')!.shape.length === 0) report.promptIdx = Number((await reader.read('prompt_idx')).data[0]);
  if (has('k_len', 'int64') && reader.field('k_len')!.shape.length === 0) report.kLen = Number((await reader.read('k_len')).data[0]);
  const fromName = parseCorpusFileName(basename(reader.path));
  if (fromName) {
    if (report.task !== undefined && report.task !== fromName.task) problems.push(`task is "${report.task}" but the file name says "${fromName.task}"`);
    if (report.promptIdx !== undefined && report.promptIdx !== fromName.promptIdx) problems.push(`prompt_idx is ${report.promptIdx} but the file name says ${fromName.promptIdx}`);
  }
  if (report.task !== undefined && report.promptIdx !== undefined && meta?.tasks && !(meta.tasks[report.task] ?? []).includes(report.promptIdx)) {
    problems.push(`meta.json does not list prompt ${report.promptIdx} of task ${report.task}`);
  }
  const inputIds = reader.field('input_ids');
  if (inputIds && report.kLen !== undefined && inputIds.shape[0] !== report.kLen) {
    problems.push(`input_ids has ${inputIds.shape[0]} tokens but k_len is ${report.kLen}`);
  }
  if (has('positions', 'int32') && reader.field('positions')!.shape.length === 1) {
    const pos = (await reader.read('positions')).data as Int32Array;
    const nSink = meta?.capture?.n_sink;
    for (let i = 0; i < pos.length; i++) {
      if (i > 0 && pos[i]! <= pos[i - 1]!) {
        problems.push(`positions are not strictly ascending at index ${i} (${pos[i - 1]} then ${pos[i]})`);
        break;
      }
    }
    if (pos.length > 0) {
      if (pos[0]! < (nSink ?? 0)) problems.push(`positions start at ${pos[0]}, below n_sink ${nSink ?? 0}`);
      if (report.kLen !== undefined && pos[pos.length - 1]! >= report.kLen) problems.push(`positions end at ${pos[pos.length - 1]}, not below k_len ${report.kLen}`);
    }
  }
  report.ok = problems.length === 0;
  return report;
}

/** Opens, validates and closes one file; unreadable files become a report with the reason. */
export async function validateCorpusFile(path: string, meta?: CorpusMeta): Promise<CorpusFileReport> {
  let reader: NpzReader;
  try {
    reader = await openNpz(path);
  } catch (err) {
    return { path, ok: false, problems: [(err as Error).message] };
  }
  try {
    return await validateCorpusReader(reader, meta);
  } catch (err) {
    return { path, ok: false, problems: [(err as Error).message] };
  } finally {
    await reader.close();
  }
}
