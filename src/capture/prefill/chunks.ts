import { emptyKvCache, runChunk, type CaptureSession } from '../../model/runtime/session.js';
import { allocateCaptureBuffers, placeChunkRows, type CaptureBuffers } from './assemble.js';
import { planChunks } from './chunk-plan.js';

export interface PrefillProgress {
  /** tokens prefilled so far in this prompt */
  tokensDone: number;
  kLen: number;
}

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
  return buffers;
}
