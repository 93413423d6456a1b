import { describe, expect, it } from 'vitest';
import { choleskyWasm, matVecWasm, ridgelineWasm } from '../../src/stats/wasm/linalg.js';
import { backSolve, forwardSolve } from '../../src/stats/small-linalg.js';
import { createRng } from '../../src/util/rng.js';
import { randomSpd } from '../helpers/random-spd.js';

/**
 * The mode count's WebAssembly pieces promise the bits of the plain loops they replace:
 * the blocked Cholesky (two rows at a time) those of one entry at a time with linalg.wat's
 * four-lane dot product, the ridgeline point those of modes.ts's former JS steps. Both are
 * checked here for exact equality against JS written from those descriptions.
 */

/** linalg.wat's $dot order in JS: lanes (4t, 4t+1) and (4t+2, 4t+3), a tail pair into the first, then a single. */
function dotLanes(x: Float64Array, xo: number, y: Float64Array, yo: number, n: number): number {
  let a0 = 0, a1 = 0, b0 = 0, b1 = 0; // a = lane 0, b = lane 1 of the two accumulators
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    a0 = a0 + x[xo + t]! * y[yo + t]!;
    b0 = b0 + x[xo + t + 1]! * y[yo + t + 1]!;
    a1 = a1 + x[xo + t + 2]! * y[yo + t + 2]!;
    b1 = b1 + x[xo + t + 3]! * y[yo + t + 3]!;
  }
  if (t + 2 <= n) {
    a0 = a0 + x[xo + t]! * y[yo + t]!;
    b0 = b0 + x[xo + t + 1]! * y[yo + t + 1]!;
    t += 2;
  }
  let s = (a0 + a1) + (b0 + b1);
  if (t < n) s = s + x[xo + t]! * y[yo + t]!;
  return s;
}

/** Cholesky one entry at a time, L[i,j] = (A[i,j] - dot) / L[j,j], as linalg.wat did before blocking. */
function choleskyEntrywise(A: Float64Array, d: number): Float64Array | null {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const s = A[i * d + j]! - dotLanes(L, i * d, L, j * d, j);
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        L[i * d + i] = Math.sqrt(s);
      } else {
        L[i * d + j] = s / L[j * d + j]!;
      }
    }
  }
  return L;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe('WebAssembly Cholesky (rows two at a time)', () => {
  it('has the bits of the entry-at-a-time factorisation at odd and even d', () => {
    for (const d of [1, 2, 3, 5, 8, 33, 64, 128]) {
      const A = randomSpd(d, 100 + d);
      const ref = choleskyEntrywise(A, d)!;
      expect(ref).not.toBeNull();
      expect(sameBits(choleskyWasm(A, d)!, ref)).toBe(true);
    }
  });

  it('reports a failed pivot in either row of a pair, and a clean factor afterwards', () => {
    // the second pivot of the first pair fails (rank one), then the first pivot of the second pair
    expect(choleskyWasm(Float64Array.from([1, 1, 0, 1, 1, 0, 0, 0, 1]), 3)).toBeNull();
    expect(choleskyWasm(Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, -1]), 3)).toBeNull();
    expect(choleskyWasm(Float64Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, NaN, 0, 0, 0, 0, 1]), 4)).toBeNull();
    expect(Array.from(choleskyWasm(Float64Array.from([4, 0, 0, 0, 9, 0, 0, 0, 16]), 3)!)).toEqual([2, 0, 0, 0, 3, 0, 0, 0, 4]);
  });
});

describe('WebAssembly matrix-vector product (rows two at a time)', () => {
  it('has the bits of one four-lane dot product per row at odd and even d', () => {
    for (const d of [1, 2, 3, 7, 16, 33, 128]) {
      const rng = createRng(500 + d);
      const A = Float64Array.from({ length: d * d }, () => rng.normal());
      const x = Float64Array.from({ length: d }, () => rng.normal());
      const want = Float64Array.from({ length: d }, (_, i) => dotLanes(A, i * d, x, 0, d));
      expect(sameBits(matVecWasm(A, d)(x, new Float64Array(d)), want)).toBe(true);
    }
  });
});

describe('WebAssembly ridgeline point', () => {
  it('has the bits of the JS steps: M = (1-a) P_A + a P_B, Cholesky, two substitutions, two Mahalanobis sums', () => {
    for (const d of [3, 8, 33]) {
      const comp = (seed: number) => {
        const rng = createRng(seed);
        const precision = randomSpd(d, seed);
        const mean = Float64Array.from({ length: d }, () => rng.normal());
        const precisionMean = Float64Array.from({ length: d }, () => rng.normal());
        const cholCov = choleskyEntrywise(randomSpd(d, seed + 1), d)!;
        return { mean, precision, precisionMean, cholCov };
      };
      const A = comp(10 * d), B = comp(10 * d + 5);
      const ridge = ridgelineWasm(d);
      ridge.load(A, B);
      for (const a of [1 / 24, 0.5, 17 / 24]) {
        const M = new Float64Array(d * d), rhs = new Float64Array(d);
        for (let i = 0; i < d * d; i++) M[i] = (1 - a) * A.precision[i]! + a * B.precision[i]!;
        for (let i = 0; i < d; i++) rhs[i] = (1 - a) * A.precisionMean[i]! + a * B.precisionMean[i]!;
        const L = choleskyEntrywise(M, d)!;
        const x = backSolve(L, d, forwardSolve(L, d, rhs, new Float64Array(d)), new Float64Array(d));
        const dist = (P: typeof A) => {
          const z = forwardSolve(P.cholCov, d, x.map((v, j) => v - P.mean[j]!), new Float64Array(d));
          let q = 0;
          for (let j = 0; j < d; j++) q += z[j]! * z[j]!;
          return q;
        };
        const out = new Float64Array(2);
        expect(ridge.point(a, out)).toBe(true);
        expect(sameBits(out, [dist(A), dist(B)])).toBe(true);
      }
    }
  });

  it('reports a ridgeline matrix that is not positive definite', () => {
    const d = 2;
    const bad = { mean: new Float64Array(d), precision: Float64Array.from([1, 2, 2, 1]), precisionMean: new Float64Array(d), cholCov: Float64Array.from([1, 0, 0, 1]) };
    const ridge = ridgelineWasm(d);
    ridge.load(bad, bad);
    expect(ridge.point(0.5, new Float64Array(2))).toBe(false);
  });
});
