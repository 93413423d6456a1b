import type { DType, NpzFieldInfo } from '../npz/types.js';

/** Sizes a corpus file's shapes are made of. */
export interface CorpusDims {
  nLayers: number;
  nQHeads: number;
  headDim: number;
  hiddenSize: number;
  tSub: number;
  /** known only from meta.json or a `keys` field */
  nKvHeads?: number;
}

/** Axis names of each field's shape; the contract of DESIGN.md. */
export const CORPUS_FIELDS = {
  hidden: { dtype: 'float16', axes: ['nLayers', 'tSub', 'hiddenSize'], required: true },
  queries: { dtype: 'float16', axes: ['nLayers', 'nQHeads', 'tSub', 'headDim'], required: true },
  positions: { dtype: 'int32', axes: ['tSub'], required: true },
  task: { dtype: 'unicode', axes: [], required: true },
  prompt_idx: { dtype: 'int64', axes: [], required: true },
  k_len: { dtype: 'int64', axes: [], required: true },
  input_ids: { dtype: 'int32', axes: ['kLen'], required: false },
  keys: { dtype: 'float16', axes: ['nLayers', 'nKvHeads', 'tSub', 'headDim'], required: false },
  values: { dtype: 'float16', axes: ['nLayers', 'nKvHeads', 'tSub', 'headDim'], required: false },
} as const satisfies Record<string, { dtype: DType; axes: readonly string[]; required: boolean }>;

export type CorpusField = keyof typeof CORPUS_FIELDS;

/** The dims a file's shapes imply (from `queries` and `hidden`), or undefined when those are missing or malformed. */
export function dimsFromFields(fields: readonly NpzFieldInfo[]): CorpusDims | undefined {
  const q = fields.find((f) => f.name === 'queries');
  const h = fields.find((f) => f.name === 'hidden');
  const k = fields.find((f) => f.name === 'keys') ?? fields.find((f) => f.name === 'values');
  if (!q || q.shape.length !== 4 || !h || h.shape.length !== 3) return undefined;
  const [nLayers, nQHeads, tSub, headDim] = q.shape as [number, number, number, number];
  return { nLayers, nQHeads, tSub, headDim, hiddenSize: h.shape[2]!, nKvHeads: k?.shape.length === 4 ? k.shape[1] : undefined };
}

/**
 * Checks field names, dtypes and shapes against the contract and against each other (and
 * against `expected` sizes from meta.json). Returns one readable line per problem.
 */
export function checkCorpusFields(fields: readonly NpzFieldInfo[], expected: Partial<CorpusDims> & { kLen?: number } = {}): string[] {
  const problems: string[] = [];
  const byName = new Map(fields.map((f) => [f.name, f]));
  for (const [name, spec] of Object.entries(CORPUS_FIELDS)) {
    const f = byName.get(name);
    if (!f) {
      if (spec.required) problems.push(`${name}: missing`);
      continue;
    }
    if (f.dtype !== spec.dtype) problems.push(`${name}: dtype ${f.dtype}, expected ${spec.dtype}`);
    if (f.shape.length !== spec.axes.length) {
      problems.push(`${name}: shape ${JSON.stringify(f.shape)} has ${f.shape.length} axes, expected ${spec.axes.length} [${spec.axes.join(', ')}]`);
    }
  }
  if (problems.length > 0) return problems;
  const implied = dimsFromFields(fields)!;
  const sizes: Record<string, number | undefined> = { ...implied, ...definedOnly(expected) };
  for (const [key, value] of Object.entries(definedOnly(expected))) {
    const got = (implied as unknown as Record<string, number | undefined>)[key];
    if (got !== undefined && got !== value) problems.push(`${axisLabel(key)} is ${got} in this file but ${value} in meta.json`);
  }
  for (const [name, spec] of Object.entries(CORPUS_FIELDS)) {
    const f = byName.get(name);
    if (!f) continue;
    spec.axes.forEach((axis, i) => {
      const want = sizes[axis];
      if (want !== undefined && f.shape[i] !== want) {
        problems.push(`${name}: axis ${i} (${axisLabel(axis)}) is ${f.shape[i]}, expected ${want}`);
      }
    });
  }
  return problems;
}

function definedOnly<T extends object>(o: T): Partial<Record<string, number>> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<Record<string, number>>;
}

function axisLabel(axis: string): string {
  const labels: Record<string, string> = {
    nLayers: 'n_layers', nQHeads: 'n_q_heads', nKvHeads: 'n_kv_heads', tSub: 'T_sub', headDim: 'head_dim', hiddenSize: 'hidden_size', kLen: 'k_len',
  };
  return labels[axis] ?? axis;
}
