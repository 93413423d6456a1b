import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk, type CaptureSession, type KvCache } from '../../model/runtime/session.js';
import { allocateCaptureBuffers, placeChunkRows, type CaptureBuffers } from './assemble.js';
import { DEFAULT_CHUNK, planChunks } from './chunk-plan.js';
import type { HostBytes, PrefillModeDef, PrefillProgress, PrefillResult } from './index.js';

// layer-by-layer.ts takes the progress type from here
export type { PrefillProgress } from './index.js';

/**
 * `--prefill chunks`: chunk by chunk through the whole model (the capture graph), carrying
 * every layer's KV cache on the host (grows with prompt length x layers).
 */
export const chunksMode: PrefillModeDef = {
  name: 'chunks',
  help: "chunk by chunk through all layers, holding every layer's KV cache",
  async open(modelDir, chunk, opts) {
    const s = await createCaptureSession(modelDir, { ...opts, onePass: false });
    return {
      mode: 'chunks',
      geometry: s.geometry,
      ep: s.ep,
      prefill: (ids, positions, onProgress) => prefillChunks(s, ids, positions, chunk ?? DEFAULT_CHUNK, onProgress),
      close: () => closeCaptureSession(s),
    };
  },
};

/**
 * Prefills `ids` through the capture graph in chunks of `chunk` tokens (0 = one pass),
 * carrying the KV cache, and returns the rows gathered at `positionsSorted` in the corpus
 * layouts. The KV cache is one buffer per layer sized for the prompt; each chunk copies out
 * only its own rows.
 */
export async function prefillCapture(
  session: CaptureSession,
  ids: Int32Array,
  positionsSorted: Int32Array,
  chunk: number,
  onProgress?: (p: PrefillProgress) => void,
): Promise<CaptureBuffers> {
  return (await prefillChunks(session, ids, positionsSorted, chunk, onProgress)).buffers;
}

/** prefillCapture, with the host bytes held: the rows and every layer's KV cache (none for a one-pass session). */
export async function prefillChunks(
  session: CaptureSession,
  ids: Int32Array,
  positionsSorted: Int32Array,
  chunk: number,
  onProgress?: (p: PrefillProgress) => void,
): Promise<PrefillResult> {
  const g = session.geometry;
  const geometry = { nLayers: g.nLayers, nHeads: g.nHeads, nKvHeads: g.nKvHeads, headDim: g.headDim, hiddenSize: g.hiddenSize };
  const tSub = positionsSorted.length;
  const buffers = allocateCaptureBuffers(geometry, tSub, session.withKeys, session.withValues);
  let past = emptyKvCache(session, ids.length);
  for (const plan of planChunks(ids.length, positionsSorted, chunk)) {
    const out = await runChunk(session, {
      inputIds: ids.subarray(plan.start, plan.start + plan.length),
      capturePositions: plan.capture,
      past,
    });
    placeChunkRows(buffers, geometry, tSub, plan.firstRow, plan.capture.length, out.hiddenF16, out.queriesF16, out.keysF16, out.valuesF16);
    past = out.present;
    onProgress?.({ tokensDone: plan.start + plan.length, kLen: ids.length });
  }
  return { buffers, hostBytes: heldBytes(buffers, past) };
}

function heldBytes(b: CaptureBuffers, cache: KvCache): HostBytes {
  const kvBytes = [...cache.keys, ...cache.values].reduce((a, x) => a + x.byteLength, 0);
  const rowsBytes = b.hidden.byteLength + b.queries.byteLength + (b.keys?.byteLength ?? 0) + (b.values?.byteLength ?? 0);
  return { residualBytes: 0, kvBytes, rowsBytes, totalBytes: kvBytes + rowsBytes };
}
