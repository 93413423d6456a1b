import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { CACHE_IO, CAPTURE_IO, LAYER_CAPTURE_IO } from './capture-surgery.js';
import type { ModelGeometry } from './config.js';
import { appendHeadMajor, toHeadMajor } from './kv-layout.js';
import { ensureLayerGraphs, type LayerGraphs } from './layer-graphs.js';
import { openSession, type CaptureSessionOptions } from './session.js';

/** One onnxruntime session per decoder layer over the model's layer slices. */
export interface LayerSession {
  slices: ort.InferenceSession[];
  graphs: LayerGraphs;
  geometry: ModelGeometry;
  ep: 'cpu' | 'cuda';
  /** element type of the KV cache and the residual stream (the model's compute dtype) */
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  /** residual-stream tensors carried between layers: the most any slice reads or returns */
  residualWidth: number;
}

/**
 * The host state of a layer-streamed prefill: the residual stream of every token at the
 * current layer boundary (one buffer per cut tensor, [positions, hidden], overwritten in
 * place layer by layer) and ONE layer's KV cache, sequence-major [positions, n_kv, head_dim],
 * reused by every layer.
 */
export interface LayerState {
  /** [slot][positions * hidden] */
  residual: Array<Float32Array | Uint16Array>;
  /** dims each chunk's residual came back with (the export's rank), by chunk start */
  residualDims: Map<number, readonly number[]>;
  key: Float32Array | Uint16Array;
  value: Float32Array | Uint16Array;
}

/** One chunk of one layer. */
export interface LayerChunkInput {
  layer: number;
  /** token ids of the whole prompt (slices read only this chunk's, and only layer 0 their values) */
  ids: Int32Array;
  /** absolute position of the chunk's first token; the layer's cache holds positions [0, start) */
  start: number;
  length: number;
  /** positions within this chunk to gather, ascending, in [0, length) */
  capturePositions: Int32Array;
}

/** This chunk's captured rows of one layer (float16 bits). */
export interface LayerChunkOutput {
  /** [P, hidden_size] */
  hiddenF16: Uint16Array;
  /** [P, n_heads*head_dim] */
  queriesF16: Uint16Array;
  /** [n_kv_heads, P, head_dim], with keys only */
  keysF16?: Uint16Array;
}

/** Build (or reuse) the layer slices of a model folder and open one session per layer. */
export async function createLayerSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<LayerSession> {
  const withKeys = opts.withKeys ?? false;
  const graphs = await ensureLayerGraphs(modelDir, { withKeys, location: opts.graphLocation ?? 'auto' });
  const threads = opts.threads ?? availableParallelism();
  const warn = opts.warn ?? ((l: string) => process.stderr.write(l + '\n'));
  const slices: ort.InferenceSession[] = [];
  let ep: 'cpu' | 'cuda' = 'cpu';
  try {
    for (const [l, path] of graphs.paths.entries()) {
      // the first slice settles the provider (and warns once on fallback); the rest follow it
      // no CPU arena: an arena keeps its session's peak activations (a chunk's attention
      // scores) for good, and one per layer made host memory grow with depth again
      const opened = await openSession({ path, externalDataDir: graphs.externalDataDir }, l === 0 ? (opts.ep ?? 'auto') : ep, threads, warn, { enableCpuMemArena: false });
      ep = opened.ep;
      slices.push(opened.session);
    }
  } catch (e) {
    await Promise.all(slices.map((s) => s.release()));
    throw e;
  }
  const kvMeta = slices[0]!.inputMetadata.find((m) => m.name.startsWith('past_seq.') || m.name.startsWith('past_key_values.'));
  const kvType = kvMeta && kvMeta.isTensor && kvMeta.type === 'float16' ? 'float16' : 'float32';
  const residualWidth = Math.max(...graphs.io.map((x) => Math.max(x.residualIn.length, x.residualOut.length)));
  return { slices, graphs, geometry: graphs.geometry, ep, kvType, withKeys, residualWidth };
}

/** Host buffers for a prompt of `kLen` tokens: residual stream at one layer boundary and one layer's KV cache. */
export function allocateLayerState(s: LayerSession, kLen: number): LayerState {
  const { hiddenSize, nKvHeads, headDim } = s.geometry;
  const alloc = (n: number) => (s.kvType === 'float16' ? new Uint16Array(n) : new Float32Array(n));
  return {
    residual: Array.from({ length: s.residualWidth }, () => alloc(kLen * hiddenSize)),
    residualDims: new Map(),
    key: alloc(kLen * nKvHeads * headDim),
    value: alloc(kLen * nKvHeads * headDim),
  };
}

/**
 * Run one chunk of one layer: feeds the chunk's residual rows (layer > 0) and the layer's
 * cached past, then writes the next layer's residual rows over this layer's (they are no
 * longer needed: later chunks read later rows) and appends the chunk's K/V to the cache.
 */
export async function runLayerChunk(s: LayerSession, state: LayerState, input: LayerChunkInput): Promise<LayerChunkOutput> {
  const { layer, start, length: n } = input;
  const io = s.graphs.io[layer]!;
  const session = s.slices[layer]!;
  const { hiddenSize, nKvHeads: H, headDim: D } = s.geometry;
  const row = H * D;
  const P = input.capturePositions.length;
  const positions = new BigInt64Array(P);
  for (let i = 0; i < P; i++) {
    const p = input.capturePositions[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n) throw new RangeError(`runLayerChunk: capture position ${p} outside the chunk [0, ${n})`);
    positions[i] = BigInt(p);
  }
  const ids = new BigInt64Array(n);
  const positionIds = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = BigInt(input.ids[start + i]!);
    positionIds[i] = BigInt(start + i);
  }
  // every slice may read input_ids and attention_mask for their shapes (mask, sequence lengths)
  const offered: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(start + n).fill(1n), [1, start + n]),
    position_ids: new ort.Tensor('int64', positionIds, [1, n]),
    [CAPTURE_IO.positions]: new ort.Tensor('int64', positions, [P]),
  };
  const dims = state.residualDims.get(start);
  io.residualIn.forEach((name, slot) => {
    if (!dims) throw new RangeError(`runLayerChunk: layer ${layer} chunk at ${start} has no residual rows from layer ${layer - 1}`);
    offered[name] = new ort.Tensor(s.kvType, state.residual[slot]!.subarray(start * hiddenSize, (start + n) * hiddenSize), dims);
  });
  for (const [kind, buf] of [['key', state.key], ['value', state.value]] as const) {
    if (s.graphs.seqMajorCache) offered[CACHE_IO.past(layer, kind)] = new ort.Tensor(s.kvType, buf.subarray(0, start * row), [1, start, H, D]);
    else offered[CACHE_IO.exportPast(layer, kind)] = new ort.Tensor(s.kvType, toHeadMajor(buf, start, H, D), [1, H, start, D]);
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const t = offered[name];
    if (!t) throw new Error(`runLayerChunk: layer ${layer}'s slice needs an input ${name} this runtime does not provide`);
    feeds[name] = t;
  }
  const out = await session.run(feeds);
  io.residualOut.forEach((name, slot) => {
    const t = out[name]!;
    if (t.data.length !== n * hiddenSize) throw new Error(`runLayerChunk: residual ${name} holds ${t.data.length} values, expected ${n} x ${hiddenSize}`);
    state.residual[slot]!.set(t.data as never, start * hiddenSize);
    state.residualDims.set(start, t.dims);
  });
  for (const [kind, buf] of [['key', state.key], ['value', state.value]] as const) {
    const t = out[kind === 'key' ? io.cacheOut.key : io.cacheOut.value]!;
    if (s.graphs.seqMajorCache) buf.set(t.data as never, start * row);
    else appendHeadMajor(buf, t.data as Float32Array | Uint16Array, start, n, H, D);
  }
  const result: LayerChunkOutput = {
    hiddenF16: out[LAYER_CAPTURE_IO.hidden(layer)]!.data as Uint16Array,
    queriesF16: out[LAYER_CAPTURE_IO.queries(layer)]!.data as Uint16Array,
  };
  if (s.withKeys) result.keysF16 = out[LAYER_CAPTURE_IO.keys(layer)]!.data as Uint16Array;
  return result;
}

/** Free the native sessions. */
export async function closeLayerSession(s: LayerSession): Promise<void> {
  await Promise.all(s.slices.map((x) => x.release()));
}
