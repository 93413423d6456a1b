import { basename, dirname } from 'node:path';
import { openNpz } from '../npz/npz-reader.js';
import { readCorpusMeta, type CorpusMeta } from './meta.js';
import { parseCorpusFileName } from './naming.js';
import { validateCorpusReader, type CorpusFileReport } from './validate.js';
import { formatBytes } from '../util/format.js';

export interface InspectedField {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  compressed: boolean;
  /** value of a 0-d field (numbers, bigint as string, or text) */
  value?: string | number | boolean;
}

export interface InspectResult {
  path: string;
  fields: InspectedField[];
  /** present when the file looks like a corpus file (its name, or a `queries` field) */
  corpus?: CorpusFileReport;
}

/** Lists an npz's fields and scalar values, validating it against the corpus schema when it is a corpus file. */
export async function inspectNpz(path: string): Promise<InspectResult> {
  const reader = await openNpz(path);
  try {
    const fields: InspectedField[] = [];
    for (const f of reader.fields) {
      const entry: InspectedField = { name: f.name, dtype: f.dtype, shape: f.shape, bytes: f.dataBytes, compressed: f.compressed };
      if (f.shape.length === 0) {
        const v = (await reader.read(f.name)).data[0];
        entry.value = typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : (v as string | number);
      }
      fields.push(entry);
    }
    const looksLikeCorpus = parseCorpusFileName(basename(path)) !== undefined || reader.field('queries') !== undefined;
    let corpus: CorpusFileReport | undefined;
    if (looksLikeCorpus) {
      let meta: CorpusMeta | undefined;
      let metaProblem: string | undefined;
      try {
        meta = await readCorpusMeta(dirname(path));
      } catch (err) {
        metaProblem = (err as Error).message;
      }
      corpus = await validateCorpusReader(reader, meta);
      if (metaProblem) {
        corpus.problems.push(metaProblem);
        corpus.ok = false;
      }
    }
    return { path, fields, corpus };
  } finally {
    await reader.close();
  }
}

/** Human-readable lines for `poc inspect`. */
export function formatInspect(result: InspectResult): string {
  const rows = result.fields.map((f) => [
    f.name,
    f.dtype === 'unicode' ? 'str' : f.dtype,
    `[${f.shape.join(', ')}]`,
    formatBytes(f.bytes) + (f.compressed ? ' (deflated)' : ''),
    f.value === undefined ? '' : JSON.stringify(f.value),
  ]);
  const head = ['field', 'dtype', 'shape', 'size', 'value'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [result.path, line(head), ...rows.map(line)];
  if (result.corpus) {
    if (result.corpus.ok) {
      const d = result.corpus.dims!;
      out.push(`corpus file: valid (${d.nLayers} layers, ${d.nQHeads} q heads, head_dim ${d.headDim}, hidden ${d.hiddenSize}, T_sub ${d.tSub}, k_len ${result.corpus.kLen})`);
    } else {
      out.push(`corpus file: INVALID`);
      for (const p of result.corpus.problems) out.push(`  - ${p}`);
    }
  }
  return out.join('\n');
}
