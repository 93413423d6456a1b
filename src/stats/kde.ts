import type { Matrix } from './types.js';
import { createKernels, type KernelOptions } from './kernels/index.js';
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
 * The train x test cross products run on the engine's kernels (onnxruntime, float64 by default).
 */
export async function kdeLogPdf(train: Matrix, test: Matrix, kernel: KernelOptions = { precision: 'float64' }): Promise<Float64Array | null> {
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
  const normTest = rowNorms(zTest, m, d);
  const kernels = createKernels(zTrain, n, d, kernel);
  const out = new Float64Array(m);
  const BLOCK = 1024; // test rows per product: bounds the [n, block] buffer
  for (let j0 = 0; j0 < m; j0 += BLOCK) {
    const b = Math.min(BLOCK, m - j0);
    const dots = await kernels.crossDot(zTest.subarray(j0 * d, (j0 + b) * d), b); // [n, b]
    const max = new Float64Array(b).fill(-Infinity), sum = new Float64Array(b);
    const e = (i: number, j: number) => -0.5 * Math.max(0, normTrain[i]! + normTest[j0 + j]! - 2 * dots[i * b + j]!);
    for (let i = 0; i < n; i++) for (let j = 0; j < b; j++) { const v = e(i, j); if (v > max[j]!) max[j] = v; }
    for (let i = 0; i < n; i++) for (let j = 0; j < b; j++) sum[j]! += Math.exp(e(i, j) - max[j]!);
    for (let j = 0; j < b; j++) out[j0 + j] = max[j]! + Math.log(sum[j]!) + logNorm;
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
