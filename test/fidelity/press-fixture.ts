import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { corpusFileName, writeCorpusMeta } from '../../src/corpus/index.js';
import { float32ToHalf, writeNpz, type NdArray } from '../../src/npz/index.js';
import { createRng, type Rng } from '../../src/util/rng.js';

/**
 * Corpora for the press simulation tests, written with the project's own npz writer:
 * layer 0 of every file is a planted unit whose answer is known, layer 1 plain Gaussian
 * noise with spread value norms.
 *
 * Planted (each kv head): every query is 2 f + (+a e with weight 0.7 | -a e with weight 0.3)
 * + N(0, 0.3^2) noise, two well-separated clusters of unequal weight along e, on the
 * lowest-frequency RoPE pair (e = dim d/2 - 1, f = dim d - 1; theta 1e6 barely turns them
 * over these positions). Among the cache keys:
 * - "honest" keys c f (+ noise): every query pays them exp(2c/sqrt d) = e^4; one Gaussian
 *   and the mixture both predict that;
 * - "overrated" keys -b e: the minority cluster pays them e^4, the majority e^-4 (true
 *   log expected attention ~ 4 + ln 0.3 = 2.8), but one Gaussian fitted to both clusters
 *   has variance 4 a^2 0.21 along e and its quadratic term predicts ~5.2 > 4: it keeps
 *   them before honest keys. The mixture's clusters are tight: it predicts ~2.8.
 * - everything else (the 4 sinks too) u f with u uniform in (0, 6): graded attention below
 *   the honest keys', which every model ranks alike.
 * Values all have the same norm (up to float16), so value norms change no ranking here.
 */

export const PRESS_DIMS = { layers: 2, kvHeads: 2, group: 2, d: 16, T: 1024, theta: 1e6 };
/** cache indices (future 0.2 of T = 1024 leaves 819 cached) of the planted key types: honest ones in the recent half */
export const HONEST = Array.from({ length: 200 }, (_, i) => 419 + 2 * i);
export const OVERRATED = Array.from({ length: 32 }, (_, i) => 10 + 12 * i);

function plantedQueries(rng: Rng, T: number, d: number): Float32Array {
  const out = new Float32Array(T * d);
  const e = d / 2 - 1, f = d - 1;
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) out[t * d + j] = 0.3 * rng.normal();
    out[t * d + e]! += rng.next() < 0.7 ? 3 : -3;
    out[t * d + f]! += 2;
  }
  return out;
}

function plantedKeys(rng: Rng, T: number, d: number): Float32Array {
  const out = new Float32Array(T * d);
  const e = d / 2 - 1, f = d - 1;
  const honest = new Set(HONEST), overrated = new Set(OVERRATED);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) out[t * d + j] = 0.3 * rng.normal();
    if (honest.has(t)) out[t * d + f]! += 8;
    else if (overrated.has(t)) out[t * d + e]! -= 16 / 3;
    else out[t * d + f]! += 6 * rng.next();
  }
  return out;
}

function gaussian(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** Rows of norm 2 around a shared direction (planted), or isotropic with norms spread over ~10x (noise layer). */
function valueRows(rng: Rng, T: number, d: number, spread: boolean): Float32Array {
  const out = gaussian(rng, T * d);
  const shared = gaussian(rng, d, spread ? 0 : 2 / Math.sqrt(d));
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) out[t * d + j]! += shared[j]!;
    let s = 0;
    for (let j = 0; j < d; j++) s += out[t * d + j]! ** 2;
    const norm = spread ? Math.exp(2.3 * (rng.next() - 0.5)) : 2;
    for (let j = 0; j < d; j++) out[t * d + j]! *= norm / Math.sqrt(s);
  }
  return out;
}

/** Writes `prompts` files of task 'planted' (+ meta.json with RoPE settings); `withValues` false leaves values out. */
export async function writePressCorpus(dir: string, prompts: number, withValues = true): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { layers, kvHeads, group, d, T, theta } = PRESS_DIMS;
  const positions = Int32Array.from({ length: T }, (_, i) => 16 + 4 * i); // up to 4108 tokens: the (e, f) pair turns by < 0.03 rad
  for (let p = 0; p < prompts; p++) {
    const rng = createRng(1000 + p);
    const queries = new Float32Array(layers * kvHeads * group * T * d);
    const keys = new Float32Array(layers * kvHeads * T * d);
    const values = new Float32Array(layers * kvHeads * T * d);
    for (let l = 0; l < layers; l++) {
      for (let g = 0; g < kvHeads; g++) {
        for (let h = 0; h < group; h++) {
          queries.set(l === 0 ? plantedQueries(rng, T, d) : gaussian(rng, T * d), ((l * kvHeads + g) * group + h) * T * d);
        }
        keys.set(l === 0 ? plantedKeys(rng, T, d) : gaussian(rng, T * d), (l * kvHeads + g) * T * d);
        values.set(valueRows(rng, T, d, l === 1), (l * kvHeads + g) * T * d);
      }
    }
    const fields: Record<string, NdArray> = {
      queries: { dtype: 'float16', shape: [layers, kvHeads * group, T, d], data: float32ToHalf(queries) },
      keys: { dtype: 'float16', shape: [layers, kvHeads, T, d], data: float32ToHalf(keys) },
      positions: { dtype: 'int32', shape: [T], data: positions },
      task: { dtype: 'unicode', shape: [], data: ['planted'] },
      prompt_idx: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(p)) },
      k_len: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(positions[T - 1]! + 1)) },
    };
    if (withValues) fields.values = { dtype: 'float16', shape: [layers, kvHeads, T, d], data: float32ToHalf(values) };
    await writeNpz(join(dir, corpusFileName('planted', p)), fields);
  }
  await writeCorpusMeta(dir, {
    model: { name: 'planted', num_hidden_layers: layers, num_attention_heads: kvHeads * group, num_key_value_heads: kvHeads, head_dim: d, hidden_size: kvHeads * group * d, rope_theta: theta },
    capture: { max_length: 2048, n_sink: 16, t_sub: T, seed: 0, source: 'planted', prompt_format: 'none', dtype: 'float16' },
    tool: { name: 'poc', version: 'test' },
    tasks: { planted: Array.from({ length: prompts }, (_, i) => i) },
  });
}
