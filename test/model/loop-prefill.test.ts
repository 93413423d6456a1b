import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS, type MakeTinyModelOptions } from '../../src/model/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, type CaptureSession } from '../../src/model/session.js';
import { closeLoopSession, createLoopSession, runLoopPrefill, type LoopSession } from '../../src/model/loop-session.js';
import { ensureCaptureGraph } from '../../src/model/capture-graph.js';
import { LOOP_IO } from '../../src/model/loop-graph.js';
import { fromHalfArray } from '../../src/model/half.js';
import { prefillCapture } from '../../src/capture/prefill.js';
import { planLayerPrefillBytes } from '../../src/capture/layer-prefill.js';
import type { CaptureBuffers } from '../../src/capture/assemble.js';
import { referenceForward, type RefForward } from './reference-llama.js';

// Tolerances as in layer-prefill.test.ts (POC_LOG_ERR=1 prints the measured errors):
// - against the float64 reference: float32 models within half a float16 ulp per element plus
//   1e-4 of the rms; float16 models 1e-2 of the rms (activations rounded in every op).
// - against the chunked capture at the same chunk length: the same nodes on the same inputs,
//   but onnxruntime may fuse and plan the Loop body differently from the main graph: within
//   one float16 ulp per element plus 1e-4 of the rms (float32), 5e-3 of the rms (float16).
const HALF_ULP = 2 ** -11;

function rms(x: ArrayLike<number>): number {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! ** 2;
  return Math.sqrt(ss / Math.max(1, x.length));
}

/** Max over elements of |got - want| beyond `relSlack`·|want|, in units of rms(want). */
function excessErr(got: ArrayLike<number>, want: ArrayLike<number>, relSlack: number, what: string): number {
  expect(got.length, what).toBe(want.length);
  const r = rms(want);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) - relSlack * Math.abs(want[i]!));
  if (process.env.POC_LOG_ERR) console.log('excessErr', what, (worst / r).toExponential(2));
  return worst / r;
}

/** The reference's rows at `positions` in the corpus layouts (hidden [L,P,H], queries [L,nq,P,d], keys [L,nkv,P,d]). */
function refBuffers(ref: RefForward, positions: number[], o: { hidden: number; heads: number; kvHeads: number }) {
  const L = ref.hidden.length;
  const P = positions.length;
  const H = o.hidden;
  const d = H / o.heads;
  const hidden = new Float64Array(L * P * H);
  const queries = new Float64Array(L * o.heads * P * d);
  const keys = new Float64Array(L * o.kvHeads * P * d);
  for (let l = 0; l < L; l++)
    positions.forEach((p, i) => {
      hidden.set(ref.hidden[l]!.subarray(p * H, (p + 1) * H), (l * P + i) * H);
      for (let h = 0; h < o.heads; h++) queries.set(ref.queries[l]!.subarray(p * H + h * d, p * H + (h + 1) * d), ((l * o.heads + h) * P + i) * d);
      for (let g = 0; g < o.kvHeads; g++) keys.set(ref.keys[l]![g]!.subarray(p * d, (p + 1) * d), ((l * o.kvHeads + g) * P + i) * d);
    });
  return { hidden, queries, keys };
}

const CASES: Array<{ name: string; opts: Partial<MakeTinyModelOptions> }> = [
  { name: 'optimum fp32', opts: { style: 'optimum', dtype: 'float32', layers: 3 } },
  { name: 'optimum fp16, group 4', opts: { style: 'optimum', dtype: 'float16', hidden: 128, heads: 8, kvHeads: 2 } },
  { name: 'genai fp32', opts: { style: 'genai', dtype: 'float32', layers: 3, maxPosition: 256 } },
  { name: 'genai fp16', opts: { style: 'genai', dtype: 'float16', maxPosition: 256 } },
];

const T = 40;
// sampled positions (ascending) that 3-, 7- and 16-token chunks split unevenly (3 leaves some
// chunks without any); 0 = one chunk; 100 = a chunk longer than the prompt
const POSITIONS = [0, 1, 6, 7, 15, 16, 17, 23, 30, 31, 32, 39];
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

  it.each([false, true])('matches the float64 reference and the chunked capture (with keys: %s)', async (withKeys) => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1, withKeys });
    const chunked = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys });
    loops.push(loop);
    chunkeds.push(chunked);
    const want = refBuffers(ref, POSITIONS, o);
    for (const chunk of CHUNKS) {
      const rows = await runLoopPrefill(loop, ids, positions, chunk);
      const base = await prefillCapture(chunked, ids, positions, chunk === 0 ? T : chunk);
      const check = (name: keyof CaptureBuffers, wantRef: Float64Array) => {
        const got = fromHalfArray(rows[name]!);
        const what = `${o.style} ${o.dtype} ${name}, chunk ${chunk}`;
        if (o.dtype === 'float32') expect(excessErr(got, wantRef, HALF_ULP * (1 + 1e-6), `${what} vs reference`)).toBeLessThan(1e-4);
        else expect(excessErr(got, wantRef, 0, `${what} vs reference`)).toBeLessThan(1e-2);
        const slack = o.dtype === 'float32' ? 2 * HALF_ULP : 0;
        expect(excessErr(got, fromHalfArray(base[name]!), slack, `${what} vs chunked`)).toBeLessThan(o.dtype === 'float32' ? 1e-4 : 5e-3);
      };
      check('hidden', want.hidden);
      check('queries', want.queries);
      if (withKeys) check('keys', want.keys);
      else expect(rows.keys).toBeUndefined();
    }
  });

  it('lets only the captured rows out of onnxruntime: no cache, no residual, weights left in the data file', async () => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1, withKeys: true });
    loops.push(loop);
    // the session's own signature: ids, positions and chunk length in; the three row tensors out
    expect([...loop.session.inputNames].sort()).toEqual([LOOP_IO.chunk, LOOP_IO.positions, LOOP_IO.ids].sort());
    expect([...loop.session.outputNames].sort()).toEqual([LOOP_IO.hidden, LOOP_IO.keys, LOOP_IO.queries].sort());
    // what comes back is exactly the file's arrays: their bytes are the rows of one corpus file
    const rows = await runLoopPrefill(loop, ids, positions, 7);
    const held = rows.hidden.byteLength + rows.queries.byteLength + rows.keys!.byteLength;
    expect(held).toBe(planLayerPrefillBytes(loop.geometry, T, POSITIONS.length, { withKeys: true, residualWidth: 0, elemBytes: 2 }).rowsBytes);

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
    // the body carries each layer's past K and V and the three row accumulators (+ iteration, cond)
    expect(body.input).toHaveLength(2 + 2 * o.layers + 3);
    // cached like the other capture graphs: the second call reuses the file, the plain graph is another one
    const again = await ensureCaptureGraph(dir, { withKeys: true, loop: true });
    expect(again.cached).toBe(true);
    expect(again.path).toBe(loop.graph.path);
    expect((await ensureCaptureGraph(dir, { withKeys: true })).path).not.toBe(loop.graph.path);
  });

  it('refuses unsorted or out-of-prompt positions', async () => {
    const loop = await createLoopSession(dir, { ep: 'cpu', threads: 1 });
    loops.push(loop);
    await expect(runLoopPrefill(loop, ids, Int32Array.from([5, 3]), 7)).rejects.toThrow(/ascending/);
    await expect(runLoopPrefill(loop, ids, Int32Array.from([3, T]), 7)).rejects.toThrow(/inside the prompt/);
  });
});
