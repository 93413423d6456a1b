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
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d), next = new Float64Array(d);
  // two rows per pass over the triangle: half the loads and stores of cov, the loop's main cost
  let i = 0;
  for (; i + 1 < n; i += 2) {
    for (let j = 0; j < d; j++) {
      row[j] = data[i * d + j]! - mean[j]!;
      next[j] = data[(i + 1) * d + j]! - mean[j]!;
    }
    for (let a = 0; a < d; a++) {
      const ra = row[a]!, na = next[a]!;
      const base = a * d;
      for (let b = 0; b <= a; b++) cov[base + b]! += ra * row[b]! + na * next[b]!;
    }
  }
  for (; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = data[i * d + j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      const base = a * d;
      for (let b = 0; b <= a; b++) cov[base + b]! += ra * row[b]!;
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
