import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, type CaptureSession } from '../../src/model/runtime/session.js';
import { closeLoopSession, createLoopSession, runLoopPrefill, type LoopSession } from '../../src/model/runtime/loop-session.js';
import { ensureCaptureGraph } from '../../src/model/graph/capture-graph.js';
import { LOOP_IO } from '../../src/model/graph/loop-graph.js';
import { prefillCapture } from '../../src/capture/prefill/chunks.js';
import { planLayerPrefillBytes } from '../../src/capture/prefill/layer-by-layer.js';
import { referenceForward, type RefForward } from './reference-llama.js';
import { CASES, expectRowsMatch, KV_OPTIONS, POSITIONS, refBuffers, T } from './prefill-helpers.js';

// Tolerances as in layer-prefill.test.ts (POC_LOG_ERR=1 prints the measured errors):
// - against the float64 reference: float32 models within half a float16 ulp per element plus
//   1e-4 of the rms; float16 models 1e-2 of the rms (activations rounded in every op).
// - against the chunked capture at the same chunk length: the same nodes on the same inputs,
//   but onnxruntime may fuse and plan the Loop body differently from the main graph: within
//   one float16 ulp per element plus 1e-4 of the rms (float32), 5e-3 of the rms (float16).

// sampled positions (ascending) that 3-, 7- and 16-token chunks split unevenly (3 leaves some
// chunks without any); 0 = one chunk; 100 = a chunk longer than the prompt
const CHUNKS = [3, 7, 16, 0, 100];

describe.each(CASES)('loop prefill: $name', ({ opts }) => {
  const o = { ...TINY_DEFAULTS, ...opts };
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % (o.vocab - 5));
  const positions = Int32Array.from(POSITIONS);
  let dir = '';
  let ref: RefForward;
  const loops: LoopSession[] = [];
  const chunkeds: CaptureSession[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poc-loop-'));
    await makeTinyModel({ ...o, out: dir });
    ref = referenceForward(dir, Array.from(ids));
  });
  afterAll(async () => {
    for (const s of loops) await closeLoopSession(s);
    for (const s of chunkeds) await closeCaptureSession(s);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(KV_OPTIONS)('matches the float64 reference and the chunked capture (with keys: $withKeys, values: $withValues)', async ({ withKeys, withValues }) => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1, withKeys, withValues });
    const chunked = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys, withValues });
    loops.push(loop);
    chunkeds.push(chunked);
    const want = refBuffers(ref, POSITIONS, o);
    for (const chunk of CHUNKS) {
      const rows = await runLoopPrefill(loop, ids, positions, chunk);
      const base = await prefillCapture(chunked, ids, positions, chunk === 0 ? T : chunk);
      expectRowsMatch(rows, want, base, o, chunk, withKeys, withValues);
    }
  });

  it('lets only the captured rows out of onnxruntime: no cache, no residual, weights left in the data file', async () => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1, withKeys: true, withValues: true });
    loops.push(loop);
    // the session's own signature: ids, positions and chunk length in; the four row tensors out
    expect([...loop.session.inputNames].sort()).toEqual([LOOP_IO.chunk, LOOP_IO.positions, LOOP_IO.ids].sort());
    expect([...loop.session.outputNames].sort()).toEqual([LOOP_IO.hidden, LOOP_IO.keys, LOOP_IO.queries, LOOP_IO.values].sort());
    // what comes back is exactly the file's arrays: their bytes are the rows of one corpus file
    const rows = await runLoopPrefill(loop, ids, positions, 7);
    const held = rows.hidden.byteLength + rows.queries.byteLength + rows.keys!.byteLength + rows.values!.byteLength;
    expect(held).toBe(planLayerPrefillBytes(loop.geometry, T, POSITIONS.length, { withKeys: true, withValues: true, residualWidth: 0, elemBytes: 2 }).rowsBytes);

    const model = fromBinary(ModelProtoSchema, readFileSync(loop.graph.path));
    const graph = model.graph!;
    const loops_ = graph.node.filter((n) => n.opType === 'Loop');
    expect(loops_).toHaveLength(1);
    // every weight of the export the body reads is an outer initializer, still in the external data file
    const source = fromBinary(ModelProtoSchema, readFileSync(join(dir, 'model.onnx'))).graph!;
    const external = new Set(source.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL).map((t) => t.name));
    const outerExternal = graph.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL).map((t) => t.name);
    expect(outerExternal.length).toBeGreaterThan(0);
    for (const name of outerExternal) expect(external.has(name), name).toBe(true);
    const body = loops_[0]!.attribute.find((a) => a.name === 'body')!.g!;
    expect(body.initializer).toHaveLength(0);
    // the body carries each layer's past K and V and the four row accumulators (+ iteration, cond)
    expect(body.input).toHaveLength(2 + 2 * o.layers + 4);
    // cached like the other capture graphs: the second call reuses the file, the plain graph is another one
    const again = await ensureCaptureGraph(dir, { withKeys: true, withValues: true, loop: true });
    expect(again.cached).toBe(true);
    expect(again.path).toBe(loop.graph.path);
    expect((await ensureCaptureGraph(dir, { withKeys: true, withValues: true })).path).not.toBe(loop.graph.path);
    expect((await ensureCaptureGraph(dir, { withKeys: true, loop: true })).path).not.toBe(loop.graph.path);
  });

  it('refuses unsorted or out-of-prompt positions', async () => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1 });
    loops.push(loop);
    await expect(runLoopPrefill(loop, ids, Int32Array.from([5, 3]), 7)).rejects.toThrow(/ascending/);
    await expect(runLoopPrefill(loop, ids, Int32Array.from([3, T]), 7)).rejects.toThrow(/inside the prompt/);
  });
});
