import { join } from 'node:path';
import { corpusFileName, writeCorpusMeta, type CorpusMeta } from '../../src/corpus/index.js';
import { float32ToHalf, writeNpz, type NdArray } from '../../src/npz/index.js';
import { createRng } from '../../src/util/rng.js';

export interface FixtureDims {
  nLayers: number;
  nQHeads: number;
  nKvHeads: number;
  headDim: number;
  hiddenSize: number;
  tSub: number;
  kLen: number;
  nSink: number;
}

export const SMALL_DIMS: FixtureDims = { nLayers: 2, nQHeads: 4, nKvHeads: 2, headDim: 8, hiddenSize: 32, tSub: 16, kLen: 64, nSink: 4 };

/** The arrays of one valid corpus file with random contents; `override` replaces or removes (undefined) fields. */
export function corpusArrays(task: string, promptIdx: number, dims: FixtureDims = SMALL_DIMS, seed = 0): Record<string, NdArray> {
  const rng = createRng(seed + promptIdx);
  const rand = (n: number) => float32ToHalf(Float32Array.from({ length: n }, () => rng.normal()));
  const positions = new Int32Array(dims.tSub);
  const step = Math.floor((dims.kLen - dims.nSink) / dims.tSub);
  for (let i = 0; i < dims.tSub; i++) positions[i] = dims.nSink + i * step;
  return {
    hidden: { dtype: 'float16', shape: [dims.nLayers, dims.tSub, dims.hiddenSize], data: rand(dims.nLayers * dims.tSub * dims.hiddenSize) },
    queries: { dtype: 'float16', shape: [dims.nLayers, dims.nQHeads, dims.tSub, dims.headDim], data: rand(dims.nLayers * dims.nQHeads * dims.tSub * dims.headDim) },
    positions: { dtype: 'int32', shape: [dims.tSub], data: positions },
    task: { dtype: 'unicode', shape: [], data: [task] },
    prompt_idx: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(promptIdx)) },
    k_len: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(dims.kLen)) },
  };
}

export function fixtureMeta(tasks: Record<string, number[]>, dims: FixtureDims = SMALL_DIMS): CorpusMeta {
  return {
    model: {
      name: 'fixture', num_hidden_layers: dims.nLayers, num_attention_heads: dims.nQHeads,
      num_key_value_heads: dims.nKvHeads, head_dim: dims.headDim, hidden_size: dims.hiddenSize,
    },
    capture: { max_length: dims.kLen, n_sink: dims.nSink, t_sub: dims.tSub, seed: 0, source: 'synthetic', prompt_format: 'chat', dtype: 'float16' },
    tool: { name: 'poc', version: 'test' },
    tasks,
  };
}

/** Writes a small valid corpus (files + meta.json) into `dir`. */
export async function writeFixtureCorpus(dir: string, tasks: Record<string, number[]>, dims: FixtureDims = SMALL_DIMS): Promise<string[]> {
  const paths: string[] = [];
  for (const [task, idx] of Object.entries(tasks)) {
    for (const j of idx) {
      const path = join(dir, corpusFileName(task, j));
      await writeNpz(path, corpusArrays(task, j, dims));
      paths.push(path);
    }
  }
  await writeCorpusMeta(dir, fixtureMeta(tasks, dims));
  return paths;
}
