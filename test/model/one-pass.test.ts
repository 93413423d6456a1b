import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { ensureCaptureGraph } from '../../src/model/graph/capture-graph.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk } from '../../src/model/runtime/session.js';
import { fromHalfArray } from '../../src/model/half.js';
import { referenceForward } from './reference-llama.js';
import { excessErr, HALF_ULP } from './prefill-helpers.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe.each(['optimum', 'genai'] as const)('one-pass capture graph (%s)', (style) => {
  it('returns only the captures, and the same rows as the cached graph', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-onepass-'));
    dirs.push(dir);
    await makeTinyModel({ ...TINY_DEFAULTS, style, maxPosition: 256, out: dir });
    const g = await ensureCaptureGraph(dir, { withKeys: true, withValues: true, onePass: true });
    const outputs = fromBinary(ModelProtoSchema, readFileSync(g.path)).graph!.output.map((o) => o.name).sort();
    // no KV cache output at all: nothing but the captured rows leaves onnxruntime
    expect(outputs).toEqual(['capture_hidden', 'capture_keys', 'capture_queries', 'capture_values']);

    const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 300);
    const positions = [0, 7, 20, 39];
    const one = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys: true, withValues: true, onePass: true });
    const cached = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys: true, withValues: true });
    try {
      const a = await runChunk(one, { inputIds: ids, capturePositions: positions, past: emptyKvCache(one, ids.length) });
      const b = await runChunk(cached, { inputIds: ids, capturePositions: positions, past: emptyKvCache(cached, ids.length) });
      // the same graph computation but for the outputs: identical bits
      expect(Array.from(a.hiddenF16)).toEqual(Array.from(b.hiddenF16));
      expect(Array.from(a.queriesF16)).toEqual(Array.from(b.queriesF16));
      expect(Array.from(fromHalfArray(a.keysF16!))).toEqual(Array.from(fromHalfArray(b.keysF16!)));
      expect(a.valuesF16!.length).toBe(TINY_DEFAULTS.layers * positions.length * TINY_DEFAULTS.kvHeads * (TINY_DEFAULTS.hidden / TINY_DEFAULTS.heads));
      expect(Array.from(a.valuesF16!)).toEqual(Array.from(b.valuesF16!));
      // and the values are v_proj of the float64 reference, [L, P, n_kv*d] (float32 model: half
      // a float16 ulp per element plus 1e-4 of the rms, as capture.test.ts)
      const ref = referenceForward(dir, ids);
      const { layers: L, kvHeads, hidden, heads } = TINY_DEFAULTS;
      const d = hidden / heads;
      const want = new Float64Array(L * positions.length * kvHeads * d);
      for (let l = 0; l < L; l++) positions.forEach((p, i) => {
        for (let g = 0; g < kvHeads; g++) want.set(ref.values[l]![g]!.subarray(p * d, (p + 1) * d), ((l * positions.length + i) * kvHeads + g) * d);
      });
      expect(excessErr(fromHalfArray(a.valuesF16!), want, HALF_ULP * (1 + 1e-6), `${style} one-pass values vs reference`)).toBeLessThan(1e-4);
      // and it holds no cache on the host
      expect(a.present.keys.every((k) => k.length === 0)).toBe(true);
      await expect(runChunk(one, { inputIds: ids.slice(0, 4), capturePositions: [], past: a.present })).rejects.toThrow(/whole prompts/);
    } finally {
      await closeCaptureSession(one);
      await closeCaptureSession(cached);
    }
  });
});
