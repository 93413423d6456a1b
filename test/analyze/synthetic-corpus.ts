import { join } from 'node:path';
import { corpusFileName, writeCorpusMeta } from '../../src/corpus/index.js';
import { float32ToHalf, writeNpz } from '../../src/npz/index.js';
import { createRng, seedFrom, type Rng } from '../../src/util/rng.js';

/**
 * A corpus in the contract layout whose units have a planted truth: layer 0 holds Gaussian
 * units, layer 1 three well-separated clusters, layer 2 Student-t(3) data. Every q head of a
 * kv group shares its unit's distribution, so (layer, kv head, prompt) units are clean.
 */
export type Truth = 'gaussian' | 'clusters3' | 'student3';
export const LAYER_TRUTH: Truth[] = ['gaussian', 'clusters3', 'student3'];

export interface SyntheticDims {
  nQHeads: number;
  nKvHeads: number;
  headDim: number;
  tSub: number;
}

export const SYN_DIMS: SyntheticDims = { nQHeads: 4, nKvHeads: 2, headDim: 6, tSub: 200 };

/** Writes the corpus; `withKvInMeta` false leaves model.num_key_value_heads out (as the published meta may). */
export async function writeSyntheticCorpus(
  dir: string, tasks: Record<string, number[]>, dims: SyntheticDims = SYN_DIMS, withKvInMeta = true,
): Promise<string[]> {
  const paths: string[] = [];
  const nLayers = LAYER_TRUTH.length;
  for (const [task, idx] of Object.entries(tasks)) {
    for (const j of idx) {
      const queries = new Float32Array(nLayers * dims.nQHeads * dims.tSub * dims.headDim);
      for (let layer = 0; layer < nLayers; layer++) {
        for (let kv = 0; kv < dims.nKvHeads; kv++) {
          // the unit's distribution parameters depend on (layer, kv head) only, so K* is stable across prompts
          const shape = createRng(seedFrom('shape', layer, kv));
          const scales = Array.from({ length: dims.headDim }, () => 0.5 + 1.5 * shape.next());
          const centres = [0, 1, 2].map(() => Array.from({ length: dims.headDim }, () => 12 * (shape.next() - 0.5)));
          const rng = createRng(seedFrom(task, j, layer, kv));
          const group = dims.nQHeads / dims.nKvHeads;
          for (let h = kv * group; h < (kv + 1) * group; h++) {
            for (let t = 0; t < dims.tSub; t++) {
              const base = ((layer * dims.nQHeads + h) * dims.tSub + t) * dims.headDim;
              const row = sampleRow(rng, LAYER_TRUTH[layer]!, scales, centres);
              queries.set(row, base);
            }
          }
        }
      }
      const positions = Int32Array.from({ length: dims.tSub }, (_, t) => 4 + 2 * t);
      const hiddenSize = 8;
      await writeNpz(join(dir, corpusFileName(task, j)), {
        hidden: { dtype: 'float16', shape: [nLayers, dims.tSub, hiddenSize], data: new Uint16Array(nLayers * dims.tSub * hiddenSize) },
        queries: { dtype: 'float16', shape: [nLayers, dims.nQHeads, dims.tSub, dims.headDim], data: float32ToHalf(queries) },
        positions: { dtype: 'int32', shape: [dims.tSub], data: positions },
        task: { dtype: 'unicode', shape: [], data: [task] },
        prompt_idx: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(j)) },
        k_len: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(4 + 2 * dims.tSub)) },
      });
      paths.push(join(dir, corpusFileName(task, j)));
    }
  }
  await writeCorpusMeta(dir, {
    model: {
      name: 'synthetic', num_hidden_layers: nLayers, num_attention_heads: dims.nQHeads,
      ...(withKvInMeta ? { num_key_value_heads: dims.nKvHeads } : {}), head_dim: dims.headDim, hidden_size: 8,
    },
    capture: { t_sub: dims.tSub, n_sink: 4, seed: 0, source: 'synthetic', dtype: 'float16' },
    tool: { name: 'poc', version: 'test' },
    tasks,
  });
  return paths;
}

function sampleRow(rng: Rng, truth: Truth, scales: number[], centres: number[][]): Float32Array {
  const d = scales.length;
  const row = new Float32Array(d);
  let radius = 1;
  if (truth === 'student3') {
    let chi2 = 0;
    for (let i = 0; i < 3; i++) { const g = rng.normal(); chi2 += g * g; }
    radius = Math.sqrt(3 / chi2);
  }
  const centre = truth === 'clusters3' ? centres[rng.int(3)]! : null;
  for (let j = 0; j < d; j++) row[j] = scales[j]! * rng.normal() * radius * (truth === 'clusters3' ? 0.3 : 1) + (centre ? centre[j]! : 0);
  return row;
}
