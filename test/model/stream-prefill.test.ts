import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, type CaptureSession } from '../../src/model/runtime/session.js';
import { closeLayerSession, createLayerSession, type LayerSession } from '../../src/model/runtime/layer-session.js';
import { closeStreamSession, createStreamSession, enterLayer, type StreamSession } from '../../src/model/runtime/stream-session.js';
import { ensureSliceGraphs } from '../../src/model/graph/layer-graphs.js';
import { SWITCH_IO } from '../../src/model/graph/layer-switch.js';
import { prefillCapture } from '../../src/capture/prefill/chunks.js';
import { planLayerPrefillBytes, prefillByLayers, prefillByStreamingLayers } from '../../src/capture/prefill/layer-by-layer.js';
import { referenceForward, type RefForward } from './reference-llama.js';
import { CASES, excessErr, expectRowsMatch, POSITIONS, refBuffers, T } from './prefill-helpers.js';
import { fromHalfArray } from '../../src/model/half.js';

// Tolerances as in layer-prefill.test.ts (POC_LOG_ERR=1 prints the measured errors): against
// the float64 reference, float32 models within half a float16 ulp plus 1e-4 of the rms, float16
// models 1e-2 of the rms; against the chunked capture one float16 ulp plus 1e-4 of the rms, or
// 5e-3 of the rms. Against the layer-switch prefill (`layers`): the same slice nodes on the
// same inputs, bit-identical rows for float32 models; float16 ones within 5e-3 of the rms
// (onnxruntime places its float32 Casts around float16 ops differently in an If branch than
// in a main graph: measured 1.3e-3 at most for the optimum float16 case, 0 for genai).

const CHUNKS = [7, 16, 0];

describe.each(CASES)('streamed prefill (one session per layer): $name', ({ opts }) => {
  const o = { ...TINY_DEFAULTS, ...opts };
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % (o.vocab - 5));
  const positions = Int32Array.from(POSITIONS);
  let dir = '';
  let ref: RefForward;
  const open: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poc-stream-'));
    await makeTinyModel({ ...o, out: dir });
    ref = referenceForward(dir, Array.from(ids));
  });
  afterAll(async () => {
    for (const close of open) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([false, true])('matches the float64 reference, the chunked capture, and the layer-switch rows bit for bit (with keys: %s)', async (withKeys) => {
    const stream: StreamSession = await createStreamSession(dir, { ep: 'cpu', threads: 1, withKeys });
    const layers: LayerSession = await createLayerSession(dir, { ep: 'cpu', threads: 1, withKeys });
    const chunked: CaptureSession = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys });
    open.push(() => closeStreamSession(stream), () => closeLayerSession(layers), () => closeCaptureSession(chunked));
    const want = refBuffers(ref, POSITIONS, o);
    for (const chunk of CHUNKS) {
      const { buffers } = await prefillByStreamingLayers(stream, ids, positions, chunk);
      const base = await prefillCapture(chunked, ids, positions, chunk === 0 ? 16 : chunk);
      expectRowsMatch(buffers, want, base, o, chunk, withKeys);
      const switched = (await prefillByLayers(layers, ids, positions, chunk)).buffers;
      for (const name of ['hidden', 'queries', 'keys'] as const) {
        if (!withKeys && name === 'keys') continue;
        const what = `${o.style} ${o.dtype} ${name}, chunk ${chunk} vs layers`;
        if (o.dtype === 'float32') expect(Buffer.from(buffers[name]!.buffer).equals(Buffer.from(switched[name]!.buffer)), what).toBe(true);
        else expect(excessErr(fromHalfArray(buffers[name]!), fromHalfArray(switched[name]!), 0, what)).toBeLessThan(5e-3);
      }
    }
    // a session per layer per prompt (layer 0 of the first prompt was opened with the session), never two at once
    expect(stream.stats.peakOpen).toBe(1);
    expect(stream.stats.created).toBe(CHUNKS.length * o.layers);
    expect(stream.current).toBeUndefined();
  });

  it('writes one standalone graph per layer over the export\'s data, with the layer-switch names', async () => {
    const graphs = await ensureSliceGraphs(dir, { withKeys: true });
    expect(graphs.paths).toHaveLength(o.layers);
    const source = fromBinary(ModelProtoSchema, readFileSync(join(dir, 'model.onnx'))).graph!;
    const external = new Set(source.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL).map((t) => t.name));
    const owners = new Map<string, number>();
    for (const [l, path] of graphs.paths.entries()) {
      const g = fromBinary(ModelProtoSchema, readFileSync(path)).graph!;
      const inputs = g.input.map((i) => i.name);
      const outputs = g.output.map((x) => x.name);
      expect(inputs).not.toContain(SWITCH_IO.layer);
      expect(inputs).toContain(SWITCH_IO.past('key'));
      expect(inputs.includes(SWITCH_IO.residualIn(0)), `layer ${l} reads a residual`).toBe(l > 0);
      expect(outputs.includes(SWITCH_IO.residualOut(0)), `layer ${l} returns a residual`).toBe(l < o.layers - 1);
      expect(outputs).toEqual(expect.arrayContaining([SWITCH_IO.cache('key'), SWITCH_IO.cache('value'), SWITCH_IO.hidden, SWITCH_IO.queries, SWITCH_IO.keys]));
      // weights stay in the export's data file (nothing copied), and each big weight (a
      // matrix, not a shared rotary table or norm scale) belongs to one layer only
      for (const t of g.initializer) {
        if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
        expect(external.has(t.name), t.name).toBe(true);
        if (t.dims.length !== 2 || t.dims.some((d) => Number(d) < o.hidden / 2)) continue;
        expect(owners.get(t.name), `${t.name} in layers ${owners.get(t.name)} and ${l}`).toBeUndefined();
        owners.set(t.name, l);
      }
    }
    expect((await ensureSliceGraphs(dir, { withKeys: true })).cached).toBe(true);
  });

  it('releases the open layer when a chunk fails, and opens only the layer asked for', async () => {
    const stream = await createStreamSession(dir, { ep: 'cpu', threads: 1 });
    open.push(() => closeStreamSession(stream));
    expect(stream.current?.layer).toBe(0);
    await expect(prefillByStreamingLayers(stream, ids, positions, 7, (p) => {
      if (p.tokensDone > T / o.layers) throw new Error('stop');
    })).rejects.toThrow('stop');
    expect(stream.current).toBeUndefined();
    expect(stream.stats.open).toBe(0);
    const runner = await enterLayer(stream, o.layers - 1);
    expect(stream.current?.layer).toBe(o.layers - 1);
    expect(runner.session.outputNames).not.toContain(SWITCH_IO.residualOut(0));
    await expect(enterLayer(stream, o.layers)).rejects.toThrow(/no layer/);
    expect(stream.stats.peakOpen).toBe(1);
  });
});

describe('host memory of a streamed prefill', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it.each(['optimum', 'genai'] as const)('holds the residual, one layer of KV and at most one layer session whatever the depth (%s)', async (style) => {
    const o = { ...TINY_DEFAULTS, style, dtype: 'float16' as const, maxPosition: 256 };
    const d = o.hidden / o.heads;
    const ids = Int32Array.from({ length: T }, (_, i) => (i * 13 + 5) % 300);
    const positions = Int32Array.from(POSITIONS);
    const held: Array<{ layers: number; between: number; weightsPerSession: number[] }> = [];
    for (const layers of [3, 6]) {
      const dir = mkdtempSync(join(tmpdir(), 'poc-stream-mem-'));
      dirs.push(dir);
      await makeTinyModel({ ...o, layers, out: dir });
      const s = await createStreamSession(dir, { ep: 'cpu', threads: 1 });
      const { hostBytes } = await prefillByStreamingLayers(s, ids, positions, 16);
      expect(hostBytes).toEqual(planLayerPrefillBytes(s.geometry, T, positions.length, { withKeys: false, residualWidth: s.residualWidth, elemBytes: 2 }));
      // between prompts: no session open; during one: one at a time, one per layer
      expect(s.current).toBeUndefined();
      expect(s.stats).toEqual({ created: layers, open: 0, peakOpen: 1 });
      // the weight bytes any one session reads: the largest slice's external initializers
      const weightsPerSession = s.graphs.paths.map((p) => fromBinary(ModelProtoSchema, readFileSync(p)).graph!.initializer
        .reduce((a, t) => a + Number(t.externalData.find((e) => e.key === 'length')?.value ?? 0), 0));
      await closeStreamSession(s);
      held.push({ layers, between: hostBytes.residualBytes + hostBytes.kvBytes, weightsPerSession });
    }
    // independent arithmetic: float16 residual(s) [T, hidden] and one layer's K and V
    const residual = (style === 'genai' ? 2 : 1) * T * o.hidden * 2;
    const oneLayerKv = 2 * T * o.kvHeads * d * 2;
    for (const h of held) expect(h.between, `${h.layers} layers`).toBe(residual + oneLayerKv);
    // a middle layer's session reads the same weight bytes at either depth (layer 0 adds the
    // embedding; nothing grows with the number of layers)
    expect(held[0]!.weightsPerSession[1]).toBe(held[1]!.weightsPerSession[1]);
    expect(Math.max(...held[1]!.weightsPerSession)).toBe(Math.max(...held[0]!.weightsPerSession));
  });
});
