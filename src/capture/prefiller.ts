import { UserError } from '../errors.js';
import type { ModelGeometry } from '../model/config.js';
import { closeLayerSession, createLayerSession } from '../model/layer-session.js';
import { closeCaptureSession, createCaptureSession, type CaptureSessionOptions } from '../model/session.js';
import type { CaptureBuffers } from './assemble.js';
import { prefillByLayers } from './layer-prefill.js';
import { prefillCapture, type PrefillProgress } from './prefill.js';

/**
 * How a prompt is prefilled:
 *  - `layers`: layer by layer, each over the prompt in chunks; the host holds the residual
 *    stream and one layer's KV cache (grows with prompt length only);
 *  - `chunks`: chunk by chunk through the whole model; the host holds every layer's KV cache
 *    (grows with prompt length x layers).
 * Both give the same rows up to float rounding; `--chunk 0` is the one-pass graph of either.
 */
export type PrefillMode = 'layers' | 'chunks';
export const PREFILL_MODES = ['layers', 'chunks'] as const;

/** One open model that prefills prompts into corpus rows, whatever the mode. */
export interface Prefiller {
  mode: PrefillMode | 'one-pass';
  geometry: ModelGeometry;
  ep: 'cpu' | 'cuda';
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
