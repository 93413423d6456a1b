import * as ort from 'onnxruntime-node';
import { CAPTURE_IO } from '../graph/capture-surgery.js';
import type { ModelGeometry } from '../config.js';
import { appendHeadMajor, toHeadMajor } from './kv-layout.js';
import { ensureLayerGraphs, type LayerGraphs } from '../graph/layer-graphs.js';
import { SWITCH_IO } from '../graph/layer-switch.js';
import { rowsAsHalf } from './captured-rows.js';
import { chunkIndexFeeds, captureSetup, openSession, type CaptureSessionOptions, type Provider } from './session.js';

/** One onnxruntime session over the model's layer-switch graph: any layer per run. */
export interface LayerSession {
  session: ort.InferenceSession;
  graphs: LayerGraphs;
  geometry: ModelGeometry;
  ep: Provider;
  /** element type of the KV cache and the residual stream (the model's compute dtype) */
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  withValues: boolean;
  /** residual-stream tensors carried between layers */
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
  /** [P, n_kv_heads*head_dim] v_proj outputs, with values only */
  valuesF16?: Uint16Array;
}

/**
 * What running one layer's chunks needs: a session computing that layer (the switch session,
 * or that layer's own slice session, with the same input and output names) and the facts
 * shared by every layer.
 */
export interface LayerRunner {
  session: ort.InferenceSession;
  graphs: Pick<LayerGraphs, 'io' | 'seqMajorCache'>;
  geometry: ModelGeometry;
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  withValues: boolean;
  residualWidth: number;
}

/** Build (or reuse) the layer-switch graph of a model folder and open its session. */
export async function createLayerSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<LayerSession> {
  const { withKeys, withValues, warn, plan, rowsOnHost, threads, location } = await captureSetup(modelDir, opts);
  const graphs = await ensureLayerGraphs(modelDir, { withKeys, withValues, rowsOnHost, location });
  const { session, ep } = await openSession({ path: graphs.path, externalDataDir: graphs.externalDataDir }, plan, threads, warn, opts.profilePrefix);
  const kvMeta = session.inputMetadata.find((m) => m.name === SWITCH_IO.past('key'));
  const kvType = kvMeta && kvMeta.isTensor && kvMeta.type === 'float16' ? 'float16' : 'float32';
  return { session, graphs, geometry: graphs.geometry, ep, kvType, withKeys, withValues, residualWidth: graphs.residualWidth };
}

/** Host buffers for a prompt of `kLen` tokens: residual stream at one layer boundary and one layer's KV cache. */
export function allocateLayerState(s: Pick<LayerRunner, 'geometry' | 'kvType' | 'residualWidth'>, kLen: number): LayerState {
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
export async function runLayerChunk(s: LayerRunner, state: LayerState, input: LayerChunkInput): Promise<LayerChunkOutput> {
  const { layer, start, length: n } = input;
  const io = s.graphs.io[layer]!;
  const session = s.session;
  const { hiddenSize, nKvHeads: H, headDim: D } = s.geometry;
  const row = H * D;
  const index = chunkIndexFeeds(input.ids.subarray(start, start + n), start, input.capturePositions, 'runLayerChunk');
  // input_ids and attention_mask are read for their shapes too (mask, sequence lengths)
  const offered: Record<string, ort.Tensor> = {
    [SWITCH_IO.layer]: new ort.Tensor('int64', BigInt64Array.of(BigInt(layer)), []),
    input_ids: index.inputIds,
    attention_mask: index.attentionMask,
    position_ids: index.positionIds,
    [CAPTURE_IO.positions]: index.positions,
  };
  if (layer > 0 && !state.residualDims.has(start)) throw new RangeError(`runLayerChunk: layer ${layer} chunk at ${start} has no residual rows from layer ${layer - 1}`);
  // layer 0 embeds input_ids and ignores these inputs: it gets the (unused) rows, shaped right
  const shape = state.residualDims.get(start) ?? residualShape(s, n);
  for (let slot = 0; slot < s.residualWidth; slot++) {
    offered[SWITCH_IO.residualIn(slot)] = new ort.Tensor(s.kvType, state.residual[slot]!.subarray(start * hiddenSize, (start + n) * hiddenSize), shape);
  }
  for (const [kind, buf] of [['key', state.key], ['value', state.value]] as const) {
    if (s.graphs.seqMajorCache) offered[SWITCH_IO.past(kind)] = new ort.Tensor(s.kvType, buf.subarray(0, start * row), [1, start, H, D]);
    else offered[SWITCH_IO.past(kind)] = new ort.Tensor(s.kvType, toHeadMajor(buf, start, H, D), [1, H, start, D]);
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const t = offered[name];
    if (!t) throw new Error(`runLayerChunk: the layer graph needs an input ${name} this runtime does not provide`);
    feeds[name] = t;
  }
  const out = await session.run(feeds);
  // the last layer returns its input unchanged: nothing to carry further
  for (let slot = 0; slot < io.residualOut.length; slot++) {
    const t = out[SWITCH_IO.residualOut(slot)]!;
    if (t.data.length !== n * hiddenSize) throw new Error(`runLayerChunk: residual ${io.residualOut[slot]} holds ${t.data.length} values, expected ${n} x ${hiddenSize}`);
    state.residual[slot]!.set(t.data as never, start * hiddenSize);
    state.residualDims.set(start, t.dims);
  }
  for (const [kind, buf] of [['key', state.key], ['value', state.value]] as const) {
    const t = out[SWITCH_IO.cache(kind)]!;
    if (s.graphs.seqMajorCache) buf.set(t.data as never, start * row);
    else appendHeadMajor(buf, t.data as Float32Array | Uint16Array, start, n, H, D);
  }
  const rows = (name: string) => rowsAsHalf(out[name]!, name);
  const result: LayerChunkOutput = { hiddenF16: rows(SWITCH_IO.hidden), queriesF16: rows(SWITCH_IO.queries) };
  if (s.withKeys) result.keysF16 = rows(SWITCH_IO.keys);
  if (s.withValues) result.valuesF16 = rows(SWITCH_IO.values);
  return result;
}

/** [1, n, hidden] or [n, hidden], as the export's residual stream is shaped. */
function residualShape(s: LayerRunner, n: number): number[] {
  const meta = s.session.inputMetadata.find((m) => m.name === SWITCH_IO.residualIn(0));
  const rank = meta && meta.isTensor ? meta.shape.length : 3;
  return rank === 2 ? [n, s.geometry.hiddenSize] : [1, n, s.geometry.hiddenSize];
}

/** Free the native session. */
export async function closeLayerSession(s: LayerSession): Promise<void> {
  await s.session.release();
}
