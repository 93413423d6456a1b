/**
 * Small dense float64 linear algebra for the d x d side of EM (d <= a few hundred): Cholesky,
 * inverse of a triangular factor, and the precision factor scikit-learn calls
 * precisions_cholesky. Matrices are row-major Float64Array views; loops run along rows.
 */

/** Lower Cholesky factor L (L L^T = A) of the symmetric d x d matrix A; null if A is not positive definite. */
export function choleskyLower(A: Float64Array, d: number): Float64Array | null {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let j = 0; j <= i; j++) {
      const rj = j * d;
      // dot(L_i[0..j), L_j[0..j)) with four accumulators: these short loops are the whole cost
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let m = 0;
      for (; m + 3 < j; m += 4) {
        s0 += L[ri + m] * L[rj + m];
        s1 += L[ri + m + 1] * L[rj + m + 1];
        s2 += L[ri + m + 2] * L[rj + m + 2];
        s3 += L[ri + m + 3] * L[rj + m + 3];
      }
      for (; m < j; m++) s0 += L[ri + m] * L[rj + m];
      const s = A[ri + j] - (s0 + s1 + s2 + s3);
      if (i === j) {
        // a non-positive or non-finite pivot is the failure path: the caller decides what to do
        if (!(s > 0) || !Number.isFinite(s)) return null;
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j];
      }
    }
  }
  return L;
}

/** Inverse of a lower-triangular d x d matrix (itself lower triangular), by forward substitution on rows. */
export function invertLower(L: Float64Array, d: number): Float64Array {
  const Y = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    // row i of Y = (e_i - sum_{m<i} L_im * row m of Y) / L_ii; row m is zero beyond column m
    for (let m = 0; m < i; m++) {
      const lim = L[ri + m];
      if (lim === 0) continue;
      const rm = m * d;
      let j = 0;
      for (; j + 3 <= m; j += 4) {
        Y[ri + j] -= lim * Y[rm + j];
        Y[ri + j + 1] -= lim * Y[rm + j + 1];
        Y[ri + j + 2] -= lim * Y[rm + j + 2];
        Y[ri + j + 3] -= lim * Y[rm + j + 3];
      }
      for (; j <= m; j++) Y[ri + j] -= lim * Y[rm + j];
    }
    Y[ri + i] += 1;
    const inv = 1 / L[ri + i];
    for (let j = 0; j <= i; j++) Y[ri + j] *= inv;
  }
  return Y;
}

export interface PrecisionFactor {
  /** upper-triangular U = L^-T, so U U^T = Sigma^-1 and (x - mu) U are whitened coordinates */
  U: Float64Array;
  /** log det U = -1/2 log det Sigma */
  logDetU: number;
}

/**
 * scikit-learn's precisions_cholesky for one covariance; null when the covariance is not
 * positive definite. EM uses the WebAssembly build (wasm/linalg.ts); this plain composition
 * of the two steps is its independent reference.
 */
export function precisionCholesky(cov: Float64Array, d: number): PrecisionFactor | null {
  const L = choleskyLower(cov, d);
  if (!L) return null;
  const Linv = invertLower(L, d);
  const U = new Float64Array(d * d);
  let logDetU = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) U[j * d + i] = Linv[i * d + j];
    logDetU += Math.log(Linv[i * d + i]);
  }
  if (!Number.isFinite(logDetU)) return null;
  return { U, logDetU };
}

/** The covariance back from a precision factor: Sigma = (U U^T)^-1 = L L^T with L = (U^T)^-1. */
export function covarianceFromPrecisionCholesky(U: Float64Array, d: number): Float64Array {
  const Ut = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) Ut[i * d + j] = U[j * d + i];
  const L = invertLower(Ut, d);
  const S = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const m = Math.min(i, j);
      for (let t = 0; t <= m; t++) s += L[i * d + t] * L[j * d + t];
      S[i * d + j] = s;
      S[j * d + i] = s;
    }
  }
  return S;
}
