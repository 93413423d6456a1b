/**
 * The model layer's public API (what capture, demo and the CLI use).
 *
 * Chunked prefill with captures, for a prompt of token ids `ids`:
 *
 *   const s = await createCaptureSession(modelDir, { ep: 'auto', withKeys });
 *   let past = emptyKvCache(s);                       // past.length = 0
 *   for (let start = 0; start < ids.length; start += chunk) {
 *     const chunkIds = ids.slice(start, start + chunk);
 *     // chunk-relative positions to gather (absolute p -> p - start), ascending or not, may be empty
 *     const r = await runChunk(s, { inputIds: chunkIds, capturePositions, past });
 *     // r.hiddenF16  [n_layers, P, hidden_size]          float16 bits
 *     // r.queriesF16 [n_layers, P, n_heads*head_dim]    pre-RoPE, head h = columns h*head_dim..
 *     // r.keysF16    [n_layers, n_kv_heads, P, head_dim] post-RoPE (withKeys only)
 *     // r.valuesF16  [n_layers, P, n_kv_heads*head_dim]  v_proj, no RoPE (withValues only)
 *     past = r.present;                                 // past.length = start + chunkIds.length
 *   }
 *   await closeCaptureSession(s);
 *
 * The corpus wants queries (and values) as [n_layers, heads, T_sub, head_dim]: a transpose of the
 * concatenated rows, left to the caller that assembles them.
 *
 * Layer-streamed prefill (one layer's KV cache on the host, see src/capture/prefill/layer-by-layer.ts):
 *
 *   const s = await createLayerSession(modelDir, { ep: 'auto', withKeys });
 *   const state = allocateLayerState(s, ids.length);  // residual [T, hidden] + one layer's K/V
 *   for (let layer = 0; layer < L; layer++)             // every chunk of a layer before the next layer
 *     for (each chunk start, length, chunk-relative capturePositions)
 *       const r = await runLayerChunk(s, state, { layer, ids, start, length, capturePositions });
 *       // r.hiddenF16 [P, hidden], r.queriesF16 [P, n_heads*head_dim], r.keysF16 [n_kv, P, head_dim],
 *       // r.valuesF16 [P, n_kv*head_dim]
 *   await closeLayerSession(s);
 */
export { createCaptureSession, runChunk, emptyKvCache, closeCaptureSession, openSession, CUDA_HINT } from './runtime/session.js';
export type { CaptureSession, CaptureSessionOptions, ChunkInput, ChunkOutput, KvCache, EpChoice, Provider } from './runtime/session.js';
export { planProvider, WEBGPU_HINT } from './runtime/provider-plan.js';
export type { ProviderPlan } from './runtime/provider-plan.js';
export { probeWebGpu, listWebGpuAdapters } from './runtime/webgpu.js';
export type { WebGpuStatus, WebGpuAdapter } from './runtime/webgpu.js';
export { rowsAsHalf } from './runtime/captured-rows.js';
export { createLayerSession, allocateLayerState, runLayerChunk, closeLayerSession } from './runtime/layer-session.js';
export type { LayerSession, LayerState, LayerChunkInput, LayerChunkOutput } from './runtime/layer-session.js';
export { ensureLayerGraphs } from './graph/layer-graphs.js';
export type { LayerGraphs } from './graph/layer-graphs.js';
export { ensureCaptureGraph, findOnnxFile, captureCacheDir } from './graph/capture-graph.js';
export type { CaptureGraph } from './graph/capture-graph.js';
export { CAPTURE_IO, SURGERY_VERSION, rewriteForCapture } from './graph/capture-surgery.js';
export type { SurgeryStats } from './graph/capture-surgery.js';
export { readModelConfig, geometryOf } from './config.js';
export type { LlamaConfig, ModelGeometry } from './config.js';
export { makeTinyModel, ensureTinyModel, tinyConfig, TINY_DEFAULTS } from './tiny/make-tiny-model.js';
export type { MakeTinyModelOptions, MakeTinyModelResult } from './tiny/make-tiny-model.js';
export { runDoctor, formatDoctorReport } from './runtime/doctor.js';
export { toHalfBits, fromHalfBits, toHalfArray, fromHalfArray } from './half.js';
