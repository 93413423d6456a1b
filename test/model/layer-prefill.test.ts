import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, type CaptureSession } from '../../src/model/runtime/session.js';
import { closeLayerSession, createLayerSession, type LayerSession } from '../../src/model/runtime/layer-session.js';
import { ensureLayerGraphs } from '../../src/model/graph/layer-graphs.js';
import { sliceByLayer } from '../../src/model/graph/layer-slices.js';
import { geometryOf, readModelConfig } from '../../src/model/config.js';
import { prefillCapture } from '../../src/capture/prefill/chunks.js';
import { planLayerPrefillBytes, prefillByLayers } from '../../src/capture/prefill/layer-by-layer.js';
import { referenceForward, type RefForward } from './reference-llama.js';
import { CASES, expectRowsMatch, KV_OPTIONS, POSITIONS, refBuffers, T } from './prefill-helpers.js';

// Tolerances, as in capture.test.ts (measured errors in brackets, POC_LOG_ERR=1 prints them):
// - against the float64 reference: float32 models within half a float16 ulp per element plus
//   1e-4 of the rms; float16 models 1e-2 of the rms (activations rounded in every op).
// - layer-streamed against chunked capture: only the kernels' accumulation order and graph
//   fusions across the cut differ: within one float16 ulp per element plus 1e-4 of the rms
//   for float32 models, 5e-3 of the rms for float16 ones.

// sampled positions (ascending) that 7- and 16-token chunks split unevenly; 0 = one chunk per layer
const CHUNKS = [7, 16, 0];

describe.each(CASES)('layer-streamed prefill: $name', ({ opts }) => {
  const o = { ...TINY_DEFAULTS, ...opts };
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % (o.vocab - 5));
  const positions = Int32Array.from(POSITIONS);
  let dir = '';
  let ref: RefForward;
  const sessions: Array<CaptureSession | LayerSession> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poc-layers-'));
    await makeTinyModel({ ...o, out: dir });
    ref = referenceForward(dir, Array.from(ids));
  });
  afterAll(async () => {
    for (const s of sessions) await ('graphs' in s && 'residualWidth' in s ? closeLayerSession(s) : closeCaptureSession(s as CaptureSession));
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(KV_OPTIONS)('matches the float64 reference and the chunked capture (with keys: $withKeys, values: $withValues)', async ({ withKeys, withValues }) => {
    const layers = await createLayerSession(dir, { ep: 'cpu', threads: 1, withKeys, withValues });
    const chunked = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys, withValues });
    sessions.push(layers, chunked);
    const want = refBuffers(ref, POSITIONS, o);
    for (const chunk of CHUNKS) {
      const { buffers } = await prefillByLayers(layers, ids, positions, chunk);
      const base = await prefillCapture(chunked, ids, positions, chunk === 0 ? 16 : chunk);
      expectRowsMatch(buffers, want, base, o, chunk, withKeys, withValues);
    }
  });

  it('cuts the graph into one slice per layer: only slice 0 embeds, each reads only its own past', async () => {
    const model = fromBinary(ModelProtoSchema, readFileSync(join(dir, 'model.onnx')));
    const slices = sliceByLayer(model, geometryOf(await readModelConfig(dir)), { withKeys: false });
    expect(slices.models).toHaveLength(o.layers);
    for (const [l, m] of slices.models.entries()) {
      const g = m.graph!;
      const inputs = g.input.map((i) => i.name);
      const pasts = inputs.filter((n) => /^past/.test(n));
      expect(pasts.sort(), `slice ${l}`).toEqual(pasts.filter((n) => n.includes(`.${l}.`)).sort());
      expect(pasts, `slice ${l}`).toHaveLength(2);
      const embeds = g.node.some((n) => n.opType === 'Gather' && n.input[1] === 'input_ids');
      expect(embeds, `slice ${l} embeds`).toBe(l === 0);
      expect(g.output.map((x) => x.name)).not.toContain('logits');
      expect(g.node.some((n) => n.name.startsWith('/lm_head') || n.name.startsWith('/model/norm/'))).toBe(false);
      // residual in from the previous slice (none for the embedding slice), out to the next (none after the last)
      const io = slices.io[l]!;
      expect(inputs.filter((n) => io.residualIn.includes(n))).toHaveLength(l === 0 ? 0 : o.style === 'genai' ? 2 : 1);
      expect(io.residualOut).toHaveLength(l === o.layers - 1 ? 0 : o.style === 'genai' ? 2 : 1);
      if (l > 0) expect(io.residualIn).toEqual(slices.io[l - 1]!.residualOut);
    }
    // one graph switches between them; the second call reuses it
    const graphs = await ensureLayerGraphs(dir, { withKeys: false });
    const switchGraph = fromBinary(ModelProtoSchema, readFileSync(graphs.path)).graph!;
    expect(switchGraph.node.filter((n) => n.opType === 'If')).toHaveLength(1);
    expect((await ensureLayerGraphs(dir, { withKeys: false })).cached).toBe(true);
  });
});

describe('host memory of a layer-streamed prefill', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it.each(['optimum', 'genai'] as const)('holds the residual and one layer of KV whatever the depth (%s)', async (style) => {
    const o = { ...TINY_DEFAULTS, style, dtype: 'float16' as const, maxPosition: 256 };
    const d = o.hidden / o.heads;
    const ids = Int32Array.from({ length: T }, (_, i) => (i * 13 + 5) % 300);
    const positions = Int32Array.from(POSITIONS);
    const perDepth: Array<{ layers: number; residualBytes: number; kvBytes: number; rowsBytes: number; chunkedKvBytes: number }> = [];
    for (const layers of [2, 5]) {
      const dir = mkdtempSync(join(tmpdir(), 'poc-layers-mem-'));
      dirs.push(dir);
      await makeTinyModel({ ...o, layers, out: dir });
      const s = await createLayerSession(dir, { ep: 'cpu', threads: 1, withValues: true });
      const { hostBytes } = await prefillByLayers(s, ids, positions, 16);
      const plan = planLayerPrefillBytes(s.geometry, T, positions.length, { withKeys: false, withValues: true, residualWidth: s.residualWidth, elemBytes: 2 });
      await closeLayerSession(s);
      expect(hostBytes).toEqual(plan);
      // what the chunked prefill holds instead: every layer's KV cache for the prompt
      const c = await createCaptureSession(dir, { ep: 'cpu', threads: 1 });
      const kv = emptyKvCache(c, T);
      await closeCaptureSession(c);
      const chunkedKvBytes = [...kv.keys, ...kv.values].reduce((a, b) => a + b.byteLength, 0);
      perDepth.push({ layers, ...hostBytes, chunkedKvBytes });
    }
    // independent arithmetic: float16 residual [T, hidden] (two tensors for genai's fused
    // skip-norm: residual and the block output it adds), one layer's K and V [T, n_kv, d]
    const residual = (style === 'genai' ? 2 : 1) * T * o.hidden * 2;
    const oneLayerKv = 2 * T * o.kvHeads * d * 2;
    for (const p of perDepth) {
      expect(p.residualBytes, `${p.layers} layers`).toBe(residual);
      expect(p.kvBytes, `${p.layers} layers`).toBe(oneLayerKv);
      expect(p.rowsBytes).toBe(p.layers * POSITIONS.length * (o.hidden + o.heads * d + o.kvHeads * d) * 2);
      expect(p.chunkedKvBytes).toBe(p.layers * oneLayerKv);
    }
  });
});

describe('a one-layer model', () => {
  it.each(['optimum', 'genai'] as const)('carries no residual and gives the chunked rows (%s)', async (style) => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-layers-one-'));
    try {
      await makeTinyModel({ ...TINY_DEFAULTS, layers: 1, style, maxPosition: 256, out: dir });
      const ids = Int32Array.from({ length: 30 }, (_, i) => (i * 7 + 3) % 300);
      const positions = Int32Array.from([2, 9, 29]);
      const s = await createLayerSession(dir, { ep: 'cpu', threads: 1 });
      const { buffers, hostBytes } = await prefillByLayers(s, ids, positions, 8);
      await closeLayerSession(s);
      expect(s.residualWidth).toBe(0);
      expect(hostBytes.residualBytes).toBe(0);
      const c = await createCaptureSession(dir, { ep: 'cpu', threads: 1 });
      const chunked = await prefillCapture(c, ids, positions, 8);
      await closeCaptureSession(c);
      // one layer: the same nodes on the same inputs, identical bits
      expect(Array.from(buffers.hidden)).toEqual(Array.from(chunked.hidden));
      expect(Array.from(buffers.queries)).toEqual(Array.from(chunked.queries));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
