import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { makeTinyModel, TINY_DEFAULTS, type MakeTinyModelOptions } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk, type CaptureSession, type KvCache } from '../../src/model/runtime/session.js';
import { fromHalfArray } from '../../src/model/half.js';
import { referenceForward, type RefForward } from './reference-llama.js';

// Tolerances (measured errors in brackets):
// - float32 models compute in float32; the only real loss is rounding the captures to
//   float16, at most half an ulp = 2^-11 of each value. We allow that per element plus
//   1e-4 of the tensor's rms for float32 arithmetic [measured excess < 1e-5].
// - float16 models keep every activation in float16 inside the graph (as a real fp16
//   export does), so errors compound through the layers: max |error| <= 1e-2 of the rms
//   [measured 1.5e-3 .. 3.9e-3].
const HALF_ULP = 2 ** -11;

function rms(x: ArrayLike<number>): number {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! ** 2;
  return Math.sqrt(ss / Math.max(1, x.length));
}

/** Max over elements of |got - want| beyond `relSlack`·|want|, in units of rms(want). */
function excessErr(got: ArrayLike<number>, want: ArrayLike<number>, relSlack: number): number {
  expect(got.length).toBe(want.length);
  const r = rms(want);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) - relSlack * Math.abs(want[i]!));
  if (process.env.POC_LOG_ERR) console.log('excessErr', (worst / r).toExponential(2));
  return worst / r;
}

/** Assert captured float16 values match a float64 reference within the dtype's tolerance. */
function expectCaptured(got: ArrayLike<number>, want: ArrayLike<number>, dtype: 'float32' | 'float16'): void {
  if (dtype === 'float32') expect(excessErr(got, want, HALF_ULP * (1 + 1e-6))).toBeLessThan(1e-4);
  else expect(excessErr(got, want, 0)).toBeLessThan(1e-2);
}

/** Reference rows at absolute positions: hidden [L,P,H], queries [L,P,nq*d], keys [L,nkv,P,d], values [L,P,nkv*d]. */
function refRows(ref: RefForward, positions: number[], H: number, Q: number, nkv: number, d: number) {
  const L = ref.hidden.length;
  const hidden = new Float64Array(L * positions.length * H);
  const queries = new Float64Array(L * positions.length * Q);
  const keys = new Float64Array(L * nkv * positions.length * d);
  const values = new Float64Array(L * positions.length * nkv * d);
  for (let l = 0; l < L; l++)
    positions.forEach((p, i) => {
      hidden.set(ref.hidden[l]!.subarray(p * H, (p + 1) * H), (l * positions.length + i) * H);
      queries.set(ref.queries[l]!.subarray(p * Q, (p + 1) * Q), (l * positions.length + i) * Q);
      for (let g = 0; g < nkv; g++) {
        keys.set(ref.keys[l]![g]!.subarray(p * d, (p + 1) * d), ((l * nkv + g) * positions.length + i) * d);
        values.set(ref.values[l]![g]!.subarray(p * d, (p + 1) * d), ((l * positions.length + i) * nkv + g) * d);
      }
    });
  return { hidden, queries, keys, values };
}

const CASES: Array<{ name: string; opts: Partial<MakeTinyModelOptions> }> = [
  { name: 'optimum fp32, GQA group 2', opts: { style: 'optimum', dtype: 'float32' } },
  { name: 'optimum fp16, GQA group 2', opts: { style: 'optimum', dtype: 'float16' } },
  { name: 'optimum fp32, group 1 (MHA)', opts: { style: 'optimum', heads: 4, kvHeads: 4, layers: 3 } },
  { name: 'optimum fp32, group 4', opts: { style: 'optimum', hidden: 128, heads: 8, kvHeads: 2 } },
  { name: 'optimum fp16, group 4', opts: { style: 'optimum', dtype: 'float16', hidden: 128, heads: 8, kvHeads: 2 } },
  { name: 'genai fp32, GQA group 2', opts: { style: 'genai', dtype: 'float32', maxPosition: 256 } },
  { name: 'genai fp16, GQA group 2', opts: { style: 'genai', dtype: 'float16', maxPosition: 256 } },
  { name: 'genai fp32, group 1 (MHA)', opts: { style: 'genai', heads: 4, kvHeads: 4, maxPosition: 256 } },
  { name: 'genai fp16, group 4', opts: { style: 'genai', dtype: 'float16', hidden: 128, heads: 8, kvHeads: 2, maxPosition: 256 } },
];

const T = 40;
const CHUNKS = [16, 16, 8];

describe.each(CASES)('capture graph: $name', ({ opts }) => {
  let dir = '';
  let s: CaptureSession;
  let ref: RefForward;
  const o = { ...TINY_DEFAULTS, ...opts };
  const d = o.hidden / o.heads;
  const Q = o.heads * d;
  const ids = Array.from({ length: T }, (_, i) => (i * 37 + 11) % (o.vocab - 5));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poc-model-'));
    await makeTinyModel({ ...o, out: dir });
    s = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withKeys: true, withValues: true });
    ref = referenceForward(dir, ids);
  });
  afterAll(async () => {
    if (s) await closeCaptureSession(s);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the full ONNX export computes the reference logits', async () => {
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: 1 });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
    };
    if (session.inputNames.includes('position_ids')) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, T]);
    const emptyPast = () => new ort.Tensor(s.kvType, s.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, o.kvHeads, 0, d]);
    for (let l = 0; l < o.layers; l++) {
      feeds[`past_key_values.${l}.key`] = emptyPast();
      feeds[`past_key_values.${l}.value`] = emptyPast();
    }
    const out = await session.run(feeds);
    const logits = out.logits!;
    const got = logits.type === 'float16' ? fromHalfArray(logits.data as Uint16Array) : (logits.data as Float32Array);
    // float32: summation order only [measured < 5e-6 of the rms]; float16 as the captures
    expect(excessErr(got, ref.logits, 0)).toBeLessThan(o.dtype === 'float32' ? 1e-4 : 1e-2);
    await session.release();
  });

  it('captures hidden, pre-RoPE queries, post-RoPE keys and values at start, middle and end of chunks', async () => {
    // chunk-relative positions: first, interior and last row of each chunk
    const perChunk = CHUNKS.map((n) => [0, Math.floor(n / 2), n - 1]);
    let past: KvCache = emptyKvCache(s);
    const absolute: number[] = [];
    const got = { hidden: [] as number[], queries: [] as number[] };
    let start = 0;
    for (let c = 0; c < CHUNKS.length; c++) {
      const n = CHUNKS[c]!;
      const r = await runChunk(s, { inputIds: ids.slice(start, start + n), capturePositions: perChunk[c]!, past });
      const P = perChunk[c]!.length;
      const want = refRows(ref, perChunk[c]!.map((p) => start + p), o.hidden, Q, o.kvHeads, d);
      expect(r.hiddenF16.length).toBe(o.layers * P * o.hidden);
      expectCaptured(fromHalfArray(r.hiddenF16), want.hidden, o.dtype);
      expectCaptured(fromHalfArray(r.queriesF16), want.queries, o.dtype);
      expectCaptured(fromHalfArray(r.keysF16!), want.keys, o.dtype);
      expectCaptured(fromHalfArray(r.valuesF16!), want.values, o.dtype);
      absolute.push(...perChunk[c]!.map((p) => start + p));
      got.hidden.push(...fromHalfArray(r.hiddenF16));
      got.queries.push(...fromHalfArray(r.queriesF16));
      past = r.present;
      start += n;
      expect(past.length).toBe(start);
    }
  });

  it('chunked prefill through the KV cache gives the captures of one pass', async () => {
    const positions = [0, 5, 15, 16, 23, 31, 32, 39];
    const one = await runChunk(s, { inputIds: ids, capturePositions: positions, past: emptyKvCache(s) });
    // same positions gathered chunk by chunk, reassembled into [L, P, ·]
    const L = o.layers;
    const hidden = new Float32Array(L * positions.length * o.hidden);
    const queries = new Float32Array(L * positions.length * Q);
    let past = emptyKvCache(s);
    let start = 0;
    for (const n of CHUNKS) {
      const idx = positions.map((p, i) => [p, i] as const).filter(([p]) => p >= start && p < start + n);
      const r = await runChunk(s, { inputIds: ids.slice(start, start + n), capturePositions: idx.map(([p]) => p - start), past });
      const h = fromHalfArray(r.hiddenF16);
      const q = fromHalfArray(r.queriesF16);
      for (let l = 0; l < L; l++)
        idx.forEach(([, i], j) => {
          hidden.set(h.subarray((l * idx.length + j) * o.hidden, (l * idx.length + j + 1) * o.hidden), (l * positions.length + i) * o.hidden);
          queries.set(q.subarray((l * idx.length + j) * Q, (l * idx.length + j + 1) * Q), (l * positions.length + i) * Q);
        });
      past = r.present;
      start += n;
    }
    // only the accumulation order differs: within one float16 ulp (2^-10 relative) per
    // element for float32 models; float16 models round every intermediate, 5e-3 of the rms
    const slack = o.dtype === 'float32' ? 2 * HALF_ULP : 0;
    const bound = o.dtype === 'float32' ? 1e-4 : 5e-3;
    expect(excessErr(hidden, fromHalfArray(one.hiddenF16), slack)).toBeLessThan(bound);
    expect(excessErr(queries, fromHalfArray(one.queriesF16), slack)).toBeLessThan(bound);
  });

  it('an empty position list returns empty captures and still extends the cache', async () => {
    const r = await runChunk(s, { inputIds: ids.slice(0, 8), capturePositions: [], past: emptyKvCache(s) });
    expect(r.hiddenF16.length).toBe(0);
    expect(r.queriesF16.length).toBe(0);
    expect(r.keysF16!.length).toBe(0);
    expect(r.valuesF16!.length).toBe(0);
    expect(r.present.length).toBe(8);
    // the cache holds the post-RoPE keys of the 8 positions, sequence-major [t, kv head, d]
    for (let l = 0; l < o.layers; l++) {
      const cached = r.present.keys[l]!;
      const got = cached instanceof Float32Array ? cached.subarray(0, 8 * o.kvHeads * d) : fromHalfArray(cached.subarray(0, 8 * o.kvHeads * d));
      const want = new Float64Array(8 * o.kvHeads * d);
      for (let t = 0; t < 8; t++) for (let g = 0; g < o.kvHeads; g++) want.set(ref.keys[l]![g]!.subarray(t * d, (t + 1) * d), (t * o.kvHeads + g) * d);
      expectCaptured(got, want, o.dtype);
    }
  });
});
