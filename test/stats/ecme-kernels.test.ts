// The Student-t's ECME products (kernels/ecme.ts) on onnxruntime against the float64 loops and
// numpy, and the column-wise covariance of small-linalg against numpy and, bit for bit, the
// two-rows-per-pass loop it replaced.
import { describe, expect, it } from 'vitest';
import { createEcmeKernels } from '../../src/stats/kernels/ecme.js';
import { meanAndCovariance } from '../../src/stats/small-linalg.js';
import { createRng } from '../../src/util/rng.js';
import { python, relDiff } from './gmm-python.js';

function rows(n: number, d: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const X = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let prev = 0;
    for (let j = 0; j < d; j++) X[i * d + j] = (prev = 0.5 * prev + rng.normal()) + 4;
  }
  return X;
}

describe('ECME kernels', () => {
  it('distances and the weighted Gram matrix match numpy (float64 graphs 1e-12, float32 1e-5 relative)', async () => {
    const [n, d] = [700, 12];
    const X = rows(n, d, 3);
    const rng = createRng(4);
    const centre = Float64Array.from({ length: d }, () => 4 + 0.1 * rng.normal());
    const U = new Float64Array(d * d);
    for (let a = 0; a < d; a++) for (let j = a; j < d; j++) U[a * d + j] = a === j ? 1 + 0.05 * a : 0.1 * rng.normal();
    const b = Float64Array.from({ length: d }, () => 0.3 * rng.normal());
    const u = Float64Array.from({ length: n }, () => 0.2 + rng.next());
    const ref = python<{ delta: number[]; G: number[] }>(`
X = A('X', ${n}, ${d}) - A('c')
Z = X @ A('U', ${d}, ${d}) - A('b')
Xa = np.hstack([X, np.ones((${n}, 1))])
out(delta=(Z * Z).sum(1), G=((Xa.T * A('u')) @ Xa).ravel())
`, { X, c: centre, U, b, u });
    for (const [opts, tol] of [[{ backend: 'js' as const }, 1e-12], [{ precision: 'float64' as const, threads: 1 }, 1e-12], [{ threads: 1 }, 1e-5]] as const) {
      const k = createEcmeKernels(X, n, d, centre, opts);
      const delta = await k.distances(U, b);
      delta.forEach((v, i) => expect(relDiff(v, ref.delta[i]!)).toBeLessThan(tol));
      const G = await k.weightedGram(u);
      const scale = Math.max(...ref.G.map(Math.abs));
      G.forEach((v, i) => expect(Math.abs(v - ref.G[i]!)).toBeLessThan(tol * scale));
    }
  });
});

describe('meanAndCovariance', () => {
  /** The loop it replaced: rows two at a time into the triangle, then the odd last row. */
  function twoRowsPerPass(data: Float64Array, n: number, d: number, ddof: number): Float64Array {
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
    for (let j = 0; j < d; j++) mean[j]! /= n;
    const cov = new Float64Array(d * d);
    const row = new Float64Array(d), next = new Float64Array(d);
    let i = 0;
    for (; i + 1 < n; i += 2) {
      for (let j = 0; j < d; j++) {
        row[j] = data[i * d + j]! - mean[j]!;
        next[j] = data[(i + 1) * d + j]! - mean[j]!;
      }
      for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b]! += row[a]! * row[b]! + next[a]! * next[b]!;
    }
    for (; i < n; i++) {
      for (let j = 0; j < d; j++) row[j] = data[i * d + j]! - mean[j]!;
      for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b]! += row[a]! * row[b]!;
    }
    for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b] = cov[b * d + a] = cov[a * d + b]! / (n - ddof);
    return cov;
  }

  it('equals the two-rows-per-pass loop bit for bit (odd and even n, d not a multiple of 4) and numpy to 1e-12', () => {
    for (const [n, d] of [[1, 3], [2, 5], [9, 7], [410, 128], [411, 33]] as const) {
      const X = rows(n, d, n + d);
      const { cov } = meanAndCovariance(X, n, d, 0);
      expect(Array.from(cov)).toEqual(Array.from(twoRowsPerPass(X, n, d, 0)));
    }
    const X = rows(411, 33, 444);
    const ref = python<{ cov: number[] }>(`out(cov=np.cov(A('X', 411, 33).T, ddof=1).ravel())`, { X });
    const { cov } = meanAndCovariance(X, 411, 33, 1);
    cov.forEach((v, i) => expect(Math.abs(v - ref.cov[i]!)).toBeLessThan(1e-12 * Math.max(1, Math.abs(ref.cov[i]!))));
  });
});
