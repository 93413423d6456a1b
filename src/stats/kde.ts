import type { Matrix } from './types.js';
import { cholesky, forwardSolve, logDetFromCholesky, meanAndCovariance } from './small-linalg.js';

/**
 * Gaussian kernel density estimate with Silverman's bandwidth, as scipy.stats.gaussian_kde
 * (bw_method='silverman'): kernel covariance = factor^2 x the unbiased data covariance,
 * factor = (n (d + 2) / 4)^(-1 / (d + 4)).
 */

/** Silverman's bandwidth factor for n points in d dimensions. */
export function silvermanFactor(n: number, d: number): number {
  return Math.pow((n * (d + 2)) / 4, -1 / (d + 4));
}

/**
 * Log density (nats) of the KDE built on `train` at each row of `test`, by log-sum-exp over the
 * training points; null when the data covariance is singular (e.g. a constant dimension).
 */
export function kdeLogPdf(train: Matrix, test: Matrix): Float64Array | null {
  const n = train.rows, d = train.cols, m = test.rows;
  if (test.cols !== d) throw new RangeError(`kde: train has ${d} columns, test ${test.cols}`);
  const { mean, cov } = meanAndCovariance(train.data, n, d, 1);
  const f2 = silvermanFactor(n, d) ** 2;
  for (let i = 0; i < cov.length; i++) cov[i]! *= f2;
  const L = cholesky(cov, d);
  if (!L) return null;
  const logNorm = -0.5 * (d * Math.log(2 * Math.PI) + logDetFromCholesky(L, d)) - Math.log(n);
  // whiten both sets once (centred on the training mean, against cancellation in |a|^2 + |b|^2 - 2ab),
  // so every kernel is a squared Euclidean distance
  const zTrain = whiten(train, L, mean);
  const zTest = whiten(test, L, mean);
  const normTrain = rowNorms(zTrain, n, d);
  const out = new Float64Array(m);
  const exps = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    const tj = j * d;
    let nj = 0;
    for (let c = 0; c < d; c++) nj += zTest[tj + c]! * zTest[tj + c]!;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const ti = i * d;
      let dot = 0;
      for (let c = 0; c < d; c++) dot += zTrain[ti + c]! * zTest[tj + c]!;
      const e = -0.5 * Math.max(0, normTrain[i]! + nj - 2 * dot);
      exps[i] = e;
      if (e > max) max = e;
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(exps[i]! - max);
    out[j] = max + Math.log(s) + logNorm;
  }
  return out;
}

function whiten(X: Matrix, L: Float64Array, centre: Float64Array): Float64Array {
  const d = X.cols;
  const out = new Float64Array(X.rows * d);
  const row = new Float64Array(d);
  const z = new Float64Array(d);
  for (let i = 0; i < X.rows; i++) {
    for (let c = 0; c < d; c++) row[c] = X.data[i * d + c]! - centre[c]!;
    forwardSolve(L, d, row, z);
    out.set(z, i * d);
  }
  return out;
}

function rowNorms(Z: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += Z[i * d + c]! * Z[i * d + c]!;
    out[i] = s;
  }
  return out;
}
