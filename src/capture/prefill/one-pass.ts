import { closeCaptureSession, createCaptureSession } from '../../model/runtime/session.js';
import { prefillChunks } from './chunks.js';
import type { PrefillModeDef } from './index.js';

/**
 * `--chunk 0`, whatever `--prefill` says: each prompt in one run of a capture graph without
 * cache outputs, so only the captured rows leave onnxruntime and the host holds no KV cache.
 */
export const onePassMode: PrefillModeDef = {
  name: 'one-pass',
  help: 'one pass through the whole graph with no KV cache leaving onnxruntime, instead of --prefill (needs memory-efficient attention in the export for long prompts)',
  async open(modelDir, _chunk, opts) {
    const s = await createCaptureSession(modelDir, { ...opts, onePass: true });
    return {
      mode: 'one-pass',
      geometry: s.geometry,
      ep: s.ep,
      prefill: (ids, positions, onProgress) => prefillChunks(s, ids, positions, 0, onProgress),
      close: () => closeCaptureSession(s),
    };
  },
};
