// Shared by the prefill-mode tests (layer-prefill, loop-prefill): error measures against the
// float64 reference forward, its rows in the corpus layouts, and the tiny-model cases.
import { expect } from 'vitest';
import type { CaptureBuffers } from '../../src/capture/prefill/assemble.js';
import { fromHalfArray } from '../../src/model/half.js';
import type { MakeTinyModelOptions } from '../../src/model/tiny/make-tiny-model.js';
import type { RefForward } from './reference-llama.js';

/** Half a float16 ulp relative to the value: the rounding every captured row takes. */
export const HALF_ULP = 2 ** -11;

/** The prompt length and sampled positions (ascending) the prefill tests use. */
export const T = 40;
export const POSITIONS = [0, 1, 6, 7, 15, 16, 17, 23, 30, 31, 32, 39];

export function rms(x: ArrayLike<number>): number {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! ** 2;
  return Math.sqrt(ss / Math.max(1, x.length));
}

/** Max over elements of |got - want| beyond `relSlack`·|want|, in units of rms(want). */
export function excessErr(got: ArrayLike<number>, want: ArrayLike<number>, relSlack: number, what: string): number {
  expect(got.length, what).toBe(want.length);
  const r = rms(want);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) - relSlack * Math.abs(want[i]!));
  if (process.env.POC_LOG_ERR) console.log('excessErr', what, (worst / r).toExponential(2));
  return worst / r;
}

/** The reference's rows at `positions` in the corpus layouts (hidden [L,P,H], queries [L,nq,P,d], keys and values [L,nkv,P,d]). */
export function refBuffers(ref: RefForward, positions: number[], o: { hidden: number; heads: number; kvHeads: number }) {
  const L = ref.hidden.length;
  const P = positions.length;
  const H = o.hidden;
  const d = H / o.heads;
  const hidden = new Float64Array(L * P * H);
  const queries = new Float64Array(L * o.heads * P * d);
  const keys = new Float64Array(L * o.kvHeads * P * d);
  const values = new Float64Array(L * o.kvHeads * P * d);
  for (let l = 0; l < L; l++)
    positions.forEach((p, i) => {
      hidden.set(ref.hidden[l]!.subarray(p * H, (p + 1) * H), (l * P + i) * H);
      for (let h = 0; h < o.heads; h++) queries.set(ref.queries[l]!.subarray(p * H + h * d, p * H + (h + 1) * d), ((l * o.heads + h) * P + i) * d);
      for (let g = 0; g < o.kvHeads; g++) {
        keys.set(ref.keys[l]![g]!.subarray(p * d, (p + 1) * d), ((l * o.kvHeads + g) * P + i) * d);
        values.set(ref.values[l]![g]!.subarray(p * d, (p + 1) * d), ((l * o.kvHeads + g) * P + i) * d);
      }
    });
  return { hidden, queries, keys, values };
}

export const CASES: Array<{ name: string; opts: Partial<MakeTinyModelOptions> }> = [
  { name: 'optimum fp32', opts: { style: 'optimum', dtype: 'float32', layers: 3 } },
  { name: 'optimum fp16, group 4', opts: { style: 'optimum', dtype: 'float16', hidden: 128, heads: 8, kvHeads: 2 } },
  { name: 'genai fp32', opts: { style: 'genai', dtype: 'float32', layers: 3, maxPosition: 256 } },
  { name: 'genai fp16', opts: { style: 'genai', dtype: 'float16', maxPosition: 256 } },
];

/** Which optional rows a prefill test asks for: each alone (keys and values are separate graph outputs), both, neither. */
export const KV_OPTIONS = [
  { withKeys: false, withValues: false },
  { withKeys: true, withValues: false },
  { withKeys: false, withValues: true },
  { withKeys: true, withValues: true },
];

/**
 * The rows of one prefill mode against the float64 reference (float32 models within half a
 * float16 ulp plus 1e-4 of the rms, float16 models 1e-2 of the rms) and against the chunked
 * capture at the same chunk length (one float16 ulp plus 1e-4 of the rms, or 5e-3 of the rms).
 */
export function expectRowsMatch(
  got: CaptureBuffers, want: ReturnType<typeof refBuffers>, base: CaptureBuffers,
  o: { style: string; dtype: string }, chunk: number, withKeys: boolean, withValues = false,
): void {
  const check = (name: 'hidden' | 'queries' | 'keys' | 'values', wantRef: Float64Array) => {
    const rows = fromHalfArray(got[name]!);
    const what = `${o.style} ${o.dtype} ${name}, chunk ${chunk}`;
    if (o.dtype === 'float32') expect(excessErr(rows, wantRef, HALF_ULP * (1 + 1e-6), `${what} vs reference`)).toBeLessThan(1e-4);
    else expect(excessErr(rows, wantRef, 0, `${what} vs reference`)).toBeLessThan(1e-2);
    const slack = o.dtype === 'float32' ? 2 * HALF_ULP : 0;
    expect(excessErr(rows, fromHalfArray(base[name]!), slack, `${what} vs chunked`)).toBeLessThan(o.dtype === 'float32' ? 1e-4 : 5e-3);
  };
  check('hidden', want.hidden);
  check('queries', want.queries);
  if (withKeys) check('keys', want.keys);
  else expect(got.keys).toBeUndefined();
  if (withValues) check('values', want.values);
  else expect(got.values).toBeUndefined();
}
