import { DEFAULT_CHUNK } from './chunk-plan.js';
import { closeLoopSession, createLoopSession, runLoopPrefill } from '../../model/runtime/loop-session.js';
import type { PrefillModeDef } from './index.js';

/**
 * `--prefill loop`: chunk by chunk through the whole model inside ONE onnxruntime run (an
 * ONNX Loop carries the KV cache), so only the ids and the gathered rows cross to the host;
 * on a GPU the cache stays in device memory, on the CPU it is in onnxruntime's arena (not
 * counted in the host bytes, which are the JS side's).
 */
export const loopMode: PrefillModeDef = {
  name: 'loop',
  help: 'chunk by chunk through all layers inside one onnxruntime run, the KV cache never leaving onnxruntime',
  notOnePass: 'not in a loop over chunks',
  async open(modelDir, chunk, opts) {
    const s = await createLoopSession(modelDir, opts);
    return {
      mode: 'loop',
      geometry: s.geometry,
      ep: s.ep,
      // one run per prompt: progress (and an abort) can only be seen once it returns
      prefill: async (ids, positions, onProgress) => {
        const rows = await runLoopPrefill(s, ids, positions, chunk ?? DEFAULT_CHUNK);
        onProgress?.({ tokensDone: ids.length, kLen: ids.length });
        const rowsBytes = rows.hidden.byteLength + rows.queries.byteLength + (rows.keys?.byteLength ?? 0) + (rows.values?.byteLength ?? 0);
        return { buffers: rows, hostBytes: { residualBytes: 0, kvBytes: 0, rowsBytes, totalBytes: rowsBytes } };
      },
      close: () => closeLoopSession(s),
    };
  },
};
