import { listCorpusFiles, readCorpusMeta, type CorpusFileRef, type CorpusMeta } from '../corpus/index.js';
import { halfToFloat32, openNpz, type NpzReader } from '../npz/index.js';
import { UserError } from '../errors.js';
import type { Matrix } from '../stats/types.js';
import type { UnitKey } from './unit.js';

/**
 * From a corpus folder to units: which files are usable, how query heads group into kv
 * heads (from meta.json or --kv-heads, never guessed), and the rows of one unit read one
 * layer of the `queries` field at a time.
 */

/** kv: a unit per kv head (its GQA group of query heads); q: a unit per query head. */
export type Granularity = 'kv' | 'q';

/** A corpus file whose `queries` header was read and matches the corpus. */
export interface FilePlan extends CorpusFileRef {
  nLayers: number;
  nQHeads: number;
  tSub: number;
  headDim: number;
}

/** A file skipped with the reason (reported, never fatal). */
export interface BadFile {
  path: string;
  task: string;
  promptIdx: number;
  reason: string;
}

/** The usable files of a corpus, the skipped ones, and the GQA grouping. */
export interface CorpusPlan {
  files: FilePlan[];
  bad: BadFile[];
  nKvHeads: number;
  /** query heads per kv head */
  groupSize: number;
  meta: CorpusMeta | undefined;
}

/** Lists and checks every corpus file; UserError for no files or an unknown GQA grouping. */
export async function planCorpus(dir: string, kvHeadsFlag: number | undefined): Promise<CorpusPlan> {
  let refs: CorpusFileRef[];
  try {
    refs = await listCorpusFiles(dir);
  } catch (err) {
    throw new UserError(`${(err as Error).message}; pass --corpus DIR with prompt_{task}__p{j}.npz files`);
  }
  if (refs.length === 0) throw new UserError(`no corpus files (prompt_{task}__p{j}.npz) in ${dir}; capture or download a corpus first`);
  let meta: CorpusMeta | undefined;
  try {
    meta = await readCorpusMeta(dir);
  } catch (err) {
    throw new UserError(`${(err as Error).message}; fix or remove meta.json (and pass --kv-heads)`);
  }
  const metaKv = meta?.model?.num_key_value_heads;
  if (metaKv !== undefined && kvHeadsFlag !== undefined && metaKv !== kvHeadsFlag) {
    throw new UserError(`--kv-heads ${kvHeadsFlag} contradicts meta.json model.num_key_value_heads = ${metaKv}; drop the flag`);
  }
  const nKvHeads = metaKv ?? kvHeadsFlag;
  if (nKvHeads === undefined) {
    throw new UserError(`meta.json in ${dir} has no model.num_key_value_heads; pass --kv-heads N (8 for Llama-3.1-8B)`);
  }
  const metaQ = meta?.model?.num_attention_heads;
  const metaLayers = meta?.model?.num_hidden_layers;
  const files: FilePlan[] = [];
  const bad: BadFile[] = [];
  let reference: FilePlan | undefined;
  for (const ref of refs) {
    let reader: NpzReader | undefined;
    try {
      reader = await openNpz(ref.path);
      const q = reader.field('queries');
      if (!q) throw new Error('no queries field');
      if (q.dtype !== 'float16' && q.dtype !== 'float32') throw new Error(`queries dtype ${q.dtype}, expected float16`);
      if (q.shape.length !== 4) throw new Error(`queries shape [${q.shape.join(', ')}], expected [layers, q_heads, t_sub, head_dim]`);
      const [nLayers, nQHeads, tSub, headDim] = q.shape as [number, number, number, number];
      const plan: FilePlan = { ...ref, nLayers, nQHeads, tSub, headDim };
      if (nQHeads % nKvHeads !== 0) throw new Error(`${nQHeads} query heads do not split into ${nKvHeads} kv heads`);
      if (metaQ !== undefined && metaQ !== nQHeads) throw new Error(`${nQHeads} query heads, meta.json says ${metaQ}`);
      if (metaLayers !== undefined && metaLayers !== nLayers) throw new Error(`${nLayers} layers, meta.json says ${metaLayers}`);
      if (reference && (reference.nLayers !== nLayers || reference.nQHeads !== nQHeads || reference.headDim !== headDim)) {
        throw new Error(`queries [${q.shape.join(', ')}] do not match the corpus's first file`);
      }
      if (tSub < 2 || headDim < 1) throw new Error(`queries shape [${q.shape.join(', ')}] is too small to analyse`);
      reference ??= plan;
      files.push(plan);
    } catch (err) {
      bad.push({ path: ref.path, task: ref.task, promptIdx: ref.promptIdx, reason: oneLine(err) });
    } finally {
      await reader?.close();
    }
  }
  return { files, bad, nKvHeads, groupSize: reference ? reference.nQHeads / nKvHeads : 1, meta };
}

/** The units of one file and layer, in head order. */
export function unitKeysOf(file: FilePlan, layer: number, granularity: Granularity, nKvHeads: number): UnitKey[] {
  const heads = granularity === 'kv' ? nKvHeads : file.nQHeads;
  return Array.from({ length: heads }, (_, head) => ({ task: file.task, promptIdx: file.promptIdx, layer, head }));
}

/** One layer's units as float32 matrices [rows = heads_in_unit x t_sub, head_dim] with the q head of each row. */
export async function readLayerUnits(
  reader: NpzReader, file: FilePlan, layer: number, granularity: Granularity, groupSize: number,
): Promise<Array<{ head: number; X: Matrix; strata: Int32Array }>> {
  const arr = await reader.readAxis0('queries', layer, 1); // [1, q_heads, t_sub, head_dim]
  const values = arr.dtype === 'float16' ? halfToFloat32(arr.data as Uint16Array) : (arr.data as Float32Array);
  const { nQHeads, tSub, headDim } = file;
  const perUnit = granularity === 'kv' ? groupSize : 1;
  const out: Array<{ head: number; X: Matrix; strata: Int32Array }> = [];
  for (let unit = 0; unit < nQHeads / perUnit; unit++) {
    const first = unit * perUnit;
    // query heads first..first+perUnit-1 are contiguous in [q_heads, t_sub, head_dim]
    const data = values.slice(first * tSub * headDim, (first + perUnit) * tSub * headDim);
    const strata = new Int32Array(perUnit * tSub);
    for (let h = 0; h < perUnit; h++) strata.fill(h, h * tSub, (h + 1) * tSub);
    out.push({ head: unit, X: { data, rows: perUnit * tSub, cols: headDim }, strata });
  }
  return out;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
