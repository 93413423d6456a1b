import { UserError } from '../../errors.js';
import type { ModelGeometry } from '../../model/config.js';
import { closeLayerSession, createLayerSession } from '../../model/runtime/layer-session.js';
import { closeLoopSession, createLoopSession, runLoopPrefill } from '../../model/runtime/loop-session.js';
import { closeStreamSession, createStreamSession } from '../../model/runtime/stream-session.js';
import { closeCaptureSession, createCaptureSession, type CaptureSessionOptions, type Provider } from '../../model/runtime/session.js';
import type { CaptureBuffers } from './assemble.js';
import { chunkWithinScores } from './chunk-plan.js';
import { prefillByLayers, prefillByStreamingLayers } from './layer-by-layer.js';
import { prefillCapture, type PrefillProgress } from './chunks.js';

/**
 * How a prompt is prefilled:
 *  - `layers`: layer by layer, each over the prompt in chunks; the host holds the residual
 *    stream and one layer's KV cache (grows with prompt length only);
 *  - `chunks`: chunk by chunk through the whole model; the host holds every layer's KV cache
 *    (grows with prompt length x layers);
 *  - `stream`: as `layers`, but with one onnxruntime session per layer, created when the
 *    prompt reaches that layer and released before the next, so onnxruntime holds one
 *    layer's weights at a time (host memory bounded by one layer whatever the depth), and
 *    chunks shortened where their attention scores would exceed STREAM_SCORES_BUDGET;
 *  - `loop`: chunk by chunk through the whole model inside ONE onnxruntime run (an ONNX Loop
 *    carries the KV cache), so only the ids and the gathered rows cross to the host; on a
 *    GPU the cache stays in device memory, on the CPU it is in onnxruntime's arena.
 * All give the same rows up to float rounding; `--chunk 0` is the one-pass graph of any.
 */
export type PrefillMode = 'layers' | 'stream' | 'chunks' | 'loop';
export const PREFILL_MODES = ['layers', 'stream', 'chunks', 'loop'] as const;

/** One open model that prefills prompts into corpus rows, whatever the mode. */
export interface Prefiller {
  mode: PrefillMode | 'one-pass';
  geometry: ModelGeometry;
  ep: Provider;
  prefill(ids: Int32Array, positionsSorted: Int32Array, onProgress?: (p: PrefillProgress) => void): Promise<CaptureBuffers>;
  close(): Promise<void>;
}

/**
 * Open the sessions of `mode` for a model folder. `chunk` 0 keeps its meaning of one pass
 * through the whole graph with no KV cache leaving onnxruntime (`mode` then does not apply).
 */
export async function openPrefiller(modelDir: string, mode: PrefillMode, chunk: number, opts: CaptureSessionOptions): Promise<Prefiller> {
  if (!Number.isInteger(chunk) || chunk < 0) throw new UserError(`--chunk must be a whole number of tokens >= 0, got ${chunk}`);
  if (mode === 'layers' && chunk > 0) {
    const s = await createLayerSession(modelDir, opts);
    return {
      mode,
      geometry: s.geometry,
      ep: s.ep,
      prefill: async (ids, positions, onProgress) => (await prefillByLayers(s, ids, positions, chunk, onProgress)).buffers,
      close: () => closeLayerSession(s),
    };
  }
  if (mode === 'stream' && chunk > 0) {
    const s = await createStreamSession(modelDir, opts);
    return {
      mode,
      geometry: s.geometry,
      ep: s.ep,
      // the bound on memory covers the attention scores too: long prompts take shorter chunks
      prefill: async (ids, positions, onProgress) =>
        (await prefillByStreamingLayers(s, ids, positions, chunkWithinScores(chunk, ids.length, s.geometry.nHeads), onProgress)).buffers,
      close: () => closeStreamSession(s),
    };
  }
  if (mode === 'loop' && chunk > 0) {
    const s = await createLoopSession(modelDir, opts);
    return {
      mode,
      geometry: s.geometry,
      ep: s.ep,
      // one run per prompt: progress (and an abort) can only be seen once it returns
      prefill: async (ids, positions, onProgress) => {
        const rows = await runLoopPrefill(s, ids, positions, chunk);
        onProgress?.({ tokensDone: ids.length, kLen: ids.length });
        return rows;
      },
      close: () => closeLoopSession(s),
    };
  }
  const onePass = chunk === 0;
  const s = await createCaptureSession(modelDir, { ...opts, onePass });
  return {
    mode: onePass ? 'one-pass' : 'chunks',
    geometry: s.geometry,
    ep: s.ep,
    prefill: (ids, positions, onProgress) => prefillCapture(s, ids, positions, chunk, onProgress),
    close: () => closeCaptureSession(s),
  };
}
