import { openNpz, halfToFloat32, type NdArray, type NpzReader } from '../npz/index.js';
import { UserError } from '../errors.js';
import { planCorpus, type CorpusPlan, type FilePlan } from '../analyze/corpus-units.js';
import { listCorpusFiles, readCorpusMeta } from '../corpus/index.js';
import type { RopeScaling } from '../model/config.js';
import type { RopeSettings } from './rope.js';

/**
 * A corpus as fidelity needs it: the analysis plan (files, GQA grouping), the RoPE
 * settings from meta.json, every file carrying `keys` (and `values` for the press
 * simulation); and one layer of a file read as float32 queries, keys, values and positions.
 */

export interface FidelityPlan extends CorpusPlan {
  rope: RopeSettings;
}

/** One layer of one file, float16 upcast. */
export interface LayerData {
  /** pre-RoPE queries [q_heads, T, d] */
  queries: Float32Array;
  /** post-RoPE keys [kv_heads, T, d] */
  keys: Float32Array;
  /** v_proj outputs [kv_heads, T, d] (no RoPE); only when the press is simulated */
  values?: Float32Array;
  positions: Int32Array; // [T]
}

const WITH_KEYS_HINT = 'capture it with `poc capture --with-keys`';
const WITH_VALUES_HINT = 'capture it with `poc capture --with-keys --with-values`, or pass --no-press for the ranking on keys alone';

/**
 * Plans the corpus and checks what fidelity needs; UserError when keys, values (with
 * `press`) or RoPE settings are missing.
 */
export async function planFidelityCorpus(dir: string, press = false): Promise<FidelityPlan> {
  // fidelity has no --kv-heads: the grouping and RoPE settings both come from capture's meta.json
  const meta = await readCorpusMeta(dir).catch(() => undefined);
  const hasFiles = (await listCorpusFiles(dir).catch(() => [])).length > 0;
  if (hasFiles && typeof meta?.model?.num_key_value_heads !== 'number') {
    throw new UserError(`meta.json in ${dir} is missing or has no model.num_key_value_heads; ${WITH_KEYS_HINT} (its meta.json records the grouping and RoPE settings)`);
  }
  const plan = await planCorpus(dir, undefined);
  if (plan.files.length === 0) throw new UserError(`no usable corpus file in ${dir} (${plan.bad[0]?.path}: ${plan.bad[0]?.reason})`);
  const model = plan.meta?.model ?? {};
  const headDim = model.head_dim ?? plan.files[0]?.headDim;
  if (typeof model.rope_theta !== 'number' || typeof headDim !== 'number') {
    throw new UserError(`meta.json in ${dir} has no model.rope_theta; ${WITH_KEYS_HINT} (it records the RoPE settings)`);
  }
  const scaling = (model.rope_scaling ?? null) as RopeScaling | null;
  if (scaling !== null && scaling.rope_type !== 'llama3') {
    throw new UserError(`meta.json in ${dir}: rope_scaling type ${String(scaling.rope_type)} is not supported (only llama3 or none)`);
  }
  for (const file of plan.files) {
    const reader = await openNpz(file.path);
    try {
      const keys = reader.field('keys');
      if (!keys) throw new UserError(`${file.path} has no keys field; ${WITH_KEYS_HINT}`);
      const expected = [file.nLayers, plan.nKvHeads, file.tSub, file.headDim];
      if (keys.shape.join(',') !== expected.join(',')) {
        throw new UserError(`${file.path}: keys shape [${keys.shape.join(', ')}], expected [${expected.join(', ')}]; recapture with --with-keys`);
      }
      if (press) {
        const values = reader.field('values');
        if (!values) throw new UserError(`${file.path} has no values field (the press simulation needs them); ${WITH_VALUES_HINT}`);
        if (values.shape.join(',') !== expected.join(',')) {
          throw new UserError(`${file.path}: values shape [${values.shape.join(', ')}], expected [${expected.join(', ')}]; recapture with --with-values`);
        }
      }
    } finally {
      await reader.close();
    }
  }
  return { ...plan, rope: { headDim, theta: model.rope_theta, scaling } };
}

/** Positions and one layer's queries and keys (and values with `press`) of an open corpus file. */
export async function readLayer(reader: NpzReader, file: FilePlan, layer: number, press = false): Promise<LayerData> {
  const positions = (await reader.read('positions')).data as Int32Array;
  if (positions.length !== file.tSub) throw new Error(`positions has ${positions.length} entries, queries ${file.tSub}`);
  return {
    queries: asFloat32(await reader.readAxis0('queries', layer, 1)),
    keys: asFloat32(await reader.readAxis0('keys', layer, 1)),
    values: press ? asFloat32(await reader.readAxis0('values', layer, 1)) : undefined,
    positions,
  };
}

function asFloat32(arr: NdArray): Float32Array {
  return arr.dtype === 'float16' ? halfToFloat32(arr.data as Uint16Array) : Float32Array.from(arr.data as ArrayLike<number>);
}
