import { closeStreamSession, createStreamSession } from '../../model/runtime/stream-session.js';
import { streamChunk } from './chunk-plan.js';
import type { PrefillModeDef } from './index.js';
import { prefillByStreamingLayers } from './layer-by-layer.js';

/**
 * `--prefill stream`: as `layers`, but with one onnxruntime session per layer, created when
 * the prompt reaches that layer and released before the next, so onnxruntime holds one
 * layer's weights at a time (host memory bounded by one layer whatever the depth), and chunks
 * shortened where their attention scores would exceed STREAM_SCORES_BUDGET (without --chunk,
 * STREAM_CHUNK_SCORES: see streamChunk).
 */
export const streamMode: PrefillModeDef = {
  name: 'stream',
  help:
    "as layers, with one onnxruntime session per layer created and released in turn, so only one layer's weights are ever loaded " +
    '(host memory bounded by one layer whatever the depth; on a GPU, one layer on the card)',
  notOnePass: 'not layer by layer',
  async open(modelDir, chunk, opts) {
    const s = await createStreamSession(modelDir, opts);
    return {
      mode: 'stream',
      geometry: s.geometry,
      ep: s.ep,
      // the bound on memory covers the attention scores too: long prompts take shorter chunks,
      // and by default short ones too, since every layer's session faults its arena in anew
      prefill: (ids, positions, onProgress) =>
        prefillByStreamingLayers(s, ids, positions, streamChunk(chunk, ids.length, s.geometry.nHeads), onProgress),
      close: () => closeStreamSession(s),
    };
  },
};
