import type { ModelGeometry } from '../../model/config.js';
import { allocateLayerState, runLayerChunk, type LayerRunner, type LayerSession, type LayerState } from '../../model/runtime/layer-session.js';
import { enterLayer, leaveLayer, type StreamSession } from '../../model/runtime/stream-session.js';
import { allocateCaptureBuffers, placeChunkRows, type CaptureBuffers, type CaptureGeometry } from './assemble.js';
import { planChunks } from './chunk-plan.js';
import type { PrefillProgress } from './chunks.js';

/** Host memory a prefill holds for one prompt, by purpose (bytes; transient per-chunk tensors excluded). */
export interface HostBytes {
  /** residual stream of every token at one layer boundary (one buffer per carried tensor) */
  residualBytes: number;
  /** KV cache held between chunks: one layer's in layer mode, every layer's in chunk mode */
  kvBytes: number;
  /** the gathered rows: the output file's arrays */
  rowsBytes: number;
  totalBytes: number;
}

/**
 * What a layer-streamed prefill of `kLen` tokens allocates: `residualWidth` residual
 * buffers [kLen, hidden] and one layer's K and V [kLen, n_kv, head_dim] in the model dtype,
 * plus the rows. Nothing here grows with the number of layers except the rows.
 */
export function planLayerPrefillBytes(
  g: ModelGeometry,
  kLen: number,
  tSub: number,
  opts: { withKeys: boolean; withValues?: boolean; residualWidth: number; elemBytes: number },
): HostBytes {
  const residualBytes = opts.residualWidth * kLen * g.hiddenSize * opts.elemBytes;
  const kvBytes = 2 * kLen * g.nKvHeads * g.headDim * opts.elemBytes;
  const kvRow = g.nKvHeads * g.headDim;
  const rowsBytes = 2 * g.nLayers * tSub * (g.hiddenSize + g.nHeads * g.headDim + (opts.withKeys ? kvRow : 0) + (opts.withValues ? kvRow : 0));
  return { residualBytes, kvBytes, rowsBytes, totalBytes: residualBytes + kvBytes + rowsBytes };
}

/** The buffers of a layer-streamed prefill and the host bytes they really take. */
export interface LayerPrefillResult {
  buffers: CaptureBuffers;
  hostBytes: HostBytes;
}

/**
 * Where each layer's session comes from: the layer-switch session serves every layer, the
 * streamed one opens a session per layer in turn (`leave` releases it).
 */
interface LayerSource {
  state: Pick<LayerRunner, 'geometry' | 'kvType' | 'residualWidth' | 'withKeys' | 'withValues'>;
  enter(l: number): Promise<LayerRunner>;
  leave(): Promise<void>;
}

/**
 * Prefills `ids` layer by layer: every layer runs over the whole prompt in chunks of `chunk`
 * tokens (0 = one chunk) through its own KV cache before the next layer starts, so the host
 * holds the residual stream at one layer boundary and one layer's cache, never all layers'.
 * Rows are gathered at `positionsSorted` into the corpus layouts. `onProgress` reports
 * tokens x layers done scaled to the prompt length (and may throw to stop between chunks).
 */
export async function prefillByLayers(
  session: LayerSession,
  ids: Int32Array,
  positionsSorted: Int32Array,
  chunk: number,
  onProgress?: (p: PrefillProgress) => void,
): Promise<LayerPrefillResult> {
  const source: LayerSource = { state: session, enter: async () => session, leave: async () => {} };
  return layerByLayer(source, ids, positionsSorted, chunk, onProgress);
}

/**
 * The same prefill with one layer's session at a time (`--prefill stream`): layer l's
 * session is created when the prompt reaches it and released before layer l + 1's, also
 * after the last layer and when a chunk fails, so between prompts onnxruntime holds nothing.
 * The rows are those of prefillByLayers (the same slices, the same chunks).
 */
export async function prefillByStreamingLayers(
  stream: StreamSession,
  ids: Int32Array,
  positionsSorted: Int32Array,
  chunk: number,
  onProgress?: (p: PrefillProgress) => void,
): Promise<LayerPrefillResult> {
  const source: LayerSource = { state: stream, enter: (l) => enterLayer(stream, l), leave: () => leaveLayer(stream) };
  try {
    return await layerByLayer(source, ids, positionsSorted, chunk, onProgress);
  } finally {
    await leaveLayer(stream);
  }
}

async function layerByLayer(
  source: LayerSource,
  ids: Int32Array,
  positionsSorted: Int32Array,
  chunk: number,
  onProgress?: (p: PrefillProgress) => void,
): Promise<LayerPrefillResult> {
  const g = source.state.geometry;
  const L = g.nLayers;
  const tSub = positionsSorted.length;
  const buffers = allocateCaptureBuffers(g, tSub, source.state.withKeys, source.state.withValues);
  const state = allocateLayerState(source.state, ids.length);
  const plans = planChunks(ids.length, positionsSorted, chunk);
  const one: CaptureGeometry = { ...g, nLayers: 1 };
  for (let l = 0; l < L; l++) {
    const layerRows = layerView(buffers, g, tSub, l);
    const runner = await source.enter(l);
    for (const plan of plans) {
      const out = await runLayerChunk(runner, state, { layer: l, ids, start: plan.start, length: plan.length, capturePositions: plan.capture });
      placeChunkRows(layerRows, one, tSub, plan.firstRow, plan.capture.length, out.hiddenF16, out.queriesF16, out.keysF16, out.valuesF16);
      onProgress?.({ tokensDone: Math.floor((l * ids.length + plan.start + plan.length) / L), kLen: ids.length });
    }
    await source.leave();
  }
  return { buffers, hostBytes: measured(buffers, state) };
}

/** Layer `l`'s part of the corpus arrays: each is contiguous per layer in the contract layouts. */
function layerView(b: CaptureBuffers, g: ModelGeometry, tSub: number, l: number): CaptureBuffers {
  const h = tSub * g.hiddenSize;
  const q = g.nHeads * tSub * g.headDim;
  const k = g.nKvHeads * tSub * g.headDim;
  return {
    hidden: b.hidden.subarray(l * h, (l + 1) * h),
    queries: b.queries.subarray(l * q, (l + 1) * q),
    keys: b.keys?.subarray(l * k, (l + 1) * k),
    values: b.values?.subarray(l * k, (l + 1) * k),
  };
}

function measured(b: CaptureBuffers, s: LayerState): HostBytes {
  const residualBytes = s.residual.reduce((a, r) => a + r.byteLength, 0);
  const kvBytes = s.key.byteLength + s.value.byteLength;
  const rowsBytes = b.hidden.byteLength + b.queries.byteLength + (b.keys?.byteLength ?? 0) + (b.values?.byteLength ?? 0);
  return { residualBytes, kvBytes, rowsBytes, totalBytes: residualBytes + kvBytes + rowsBytes };
}
