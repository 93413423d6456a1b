import { DEFAULT_CHUNK } from './chunk-plan.js';
import { closeLayerSession, createLayerSession } from '../../model/runtime/layer-session.js';
import type { PrefillModeDef } from './index.js';
import { prefillByLayers } from './layer-by-layer.js';

/**
 * `--prefill layers`: layer by layer through one session over the layer-switch graph, each
 * layer over the prompt in chunks; the host holds the residual stream and one layer's KV
 * cache (grows with prompt length only).
 */
export const layersMode: PrefillModeDef = {
  name: 'layers',
  help: "run the model layer by layer, each over the prompt in --chunk chunks, holding one layer's KV cache on the host",
  notOnePass: 'not layer by layer',
  async open(modelDir, chunk, opts) {
    const s = await createLayerSession(modelDir, opts);
    return {
      mode: 'layers',
      geometry: s.geometry,
      ep: s.ep,
      prefill: (ids, positions, onProgress) => prefillByLayers(s, ids, positions, chunk ?? DEFAULT_CHUNK, onProgress),
      close: () => closeLayerSession(s),
    };
  },
};
