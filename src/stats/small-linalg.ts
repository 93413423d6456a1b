import { choleskyLower } from './linalg.js';

/**
 * Dense d x d helpers for the analysis statistics (row-major Float64Array). The engine's
 * n x d kernels live in gmm.ts; these are the small, per-unit pieces (solves, moments, log-sum-exp; Cholesky is the engine's).
 */

/** Lower Cholesky factor L (L L^T = A), or null if A is not positive definite: the engine's, re-exported. */
export const cholesky = choleskyLower;

/** ln det A from its lower Cholesky factor. */
export function logDetFromCholesky(L: Float64Array, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += Math.log(L[i * d + i]!);
  return 2 * s;
}

/** Solves L y = b in place of `out` (forward substitution); b may alias out. */
export function forwardSolve(L: Float64Array, d: number, b: ArrayLike<number>, out: Float64Array): Float64Array {
  for (let i = 0; i < d; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * d + k]! * out[k]!;
    out[i] = s / L[i * d + i]!;
  }
  return out;
}

/** Solves L^T x = y in place of `out` (back substitution). */
export function backSolve(L: Float64Array, d: number, y: ArrayLike<number>, out: Float64Array): Float64Array {
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * out[k]!;
    out[i] = s / L[i * d + i]!;
  }
  return out;
}

/** Column means [d] and covariance [d, d] of rows of an n x d matrix, with divisor n - ddof. */
export function meanAndCovariance(data: ArrayLike<number>, n: number, d: number, ddof: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  // the centred columns, contiguous: each entry of the triangle is then a dot product of two
  // columns held in registers, not a load and store of cov per multiply-add (~3x faster).
  // Every entry still adds its terms in the order of a pass over rows two at a time,
  // cov += x_ia x_ib + x_(i+1)a x_(i+1)b, then the odd last row: the bits of the earlier loops.
  const cols = new Float64Array(d * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) cols[j * n + i] = data[i * d + j]! - mean[j]!;
  const cov = new Float64Array(d * d);
  const even = n - (n % 2);
  for (let a = 0; a < d; a++) {
    const ca = a * n;
    let b = 0;
    for (; b + 3 <= a; b += 4) {
      const c0 = b * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < even; i += 2) {
        const x = cols[ca + i]!, y = cols[ca + i + 1]!;
        s0 += x * cols[c0 + i]! + y * cols[c0 + i + 1]!;
        s1 += x * cols[c1 + i]! + y * cols[c1 + i + 1]!;
        s2 += x * cols[c2 + i]! + y * cols[c2 + i + 1]!;
        s3 += x * cols[c3 + i]! + y * cols[c3 + i + 1]!;
      }
      if (even < n) {
        const x = cols[ca + even]!;
        s0 += x * cols[c0 + even]!;
        s1 += x * cols[c1 + even]!;
        s2 += x * cols[c2 + even]!;
        s3 += x * cols[c3 + even]!;
      }
      cov[a * d + b] = s0;
      cov[a * d + b + 1] = s1;
      cov[a * d + b + 2] = s2;
      cov[a * d + b + 3] = s3;
    }
    for (; b <= a; b++) {
      const cb = b * n;
      let s = 0;
      for (let i = 0; i < even; i += 2) s += cols[ca + i]! * cols[cb + i]! + cols[ca + i + 1]! * cols[cb + i + 1]!;
      if (even < n) s += cols[ca + even]! * cols[cb + even]!;
      cov[a * d + b] = s;
    }
  }
  const div = n - ddof;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) {
      const v = cov[a * d + b]! / div;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/** ln sum exp of values[0..n), stable for any magnitudes. */
export function logSumExp(values: ArrayLike<number>, n = values.length): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (values[i]! > max) max = values[i]!;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(values[i]! - max);
  return max + Math.log(s);
}
