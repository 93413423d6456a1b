import type { Matrix } from './types.js';
import { createKernels, type KernelOptions, type KernelPrecision } from './kernels/index.js';
import { precisionCholeskyWasm } from './wasm/linalg.js';
import { meanAndScatter } from './scatter.js';
import { centredWithOnes } from './kernels/ecme.js';
import { kdeGram, kdeLogSumExp } from './kernels/kde.js';

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
 * The covariance is one float64 product of the centred training rows; the whitening, the
 * train x test cross products and the log-sum-exp over training points run in one onnxruntime
 * graph (kernels/kde.ts), so only the d x d factor (WebAssembly) and m results pass through JS.
 * `backend: 'js'` runs the float64 loop kernels instead (the reference).
 */
export interface KdeOptions extends KernelOptions {
  /**
   * Element type of the train x test products and their log-sum-exp only (default: `precision`).
   * float32 there moves a log density by ~1e-5 nats at 3277 x 819 x 128 (3.2e-5 worst against
   * scipy in test/stats/kde.test.ts): the whitened rows and the offsets |z_i|^2 / 2 ~ 76 round
   * to 2^-24 relative, so each exponent is off by a few 1e-6 and the log-sum-exp by no more
   * than its largest exponent error; the float64 product costs ~2x. The covariance and the
   * whitening are float64 in any case (the js backend is float64 throughout).
   */
  crossPrecision?: KernelPrecision;
}

export async function kdeLogPdf(train: Matrix, test: Matrix, kernel: KdeOptions = { precision: 'float64' }): Promise<Float64Array | null> {
  const n = train.rows, d = train.cols, m = test.rows;
  if (test.cols !== d) throw new RangeError(`kde: train has ${d} columns, test ${test.cols}`);
  const { crossPrecision, ...rest } = kernel;
  const opts: KernelOptions = { precision: 'float64', ...rest };
  if ((opts.backend ?? 'ort') === 'js') return kdeOnKernels(train, test, opts);
  // about the training mean, in float64: [x - mean | 1] rows and their Gram matrix (the
  // scatter; sums ~0 and n in the last row), unbiased as scipy's
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += train.data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const trainA = centredWithOnes(train.data, n, d, mean, 'float64') as Float64Array;
  const gram = await kdeGram(trainA, n, d, opts);
  const cov = new Float64Array(d * d);
  const scale = silvermanFactor(n, d) ** 2 / (n - 1);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) {
      // the sums of centred rows are ~1e-12 of a deviation, kept for exactness
      const v = (0.5 * (gram[a * (d + 1) + b]! + gram[b * (d + 1) + a]!) - (gram[a * (d + 1) + d]! * gram[b * (d + 1) + d]!) / n) * scale;
      cov[a * d + b] = cov[b * d + a] = v;
    }
  }
  // U U^T = cov^-1 (upper U): z = (x - mean) U turns every kernel into exp(-|z_i - z_j|^2 / 2)
  const factor = precisionCholeskyWasm(cov, d);
  if (!factor) return null;
  const logNorm = -0.5 * d * Math.log(2 * Math.PI) + factor.logDetU - Math.log(n);
  const testA = centredWithOnes(test.data, m, d, mean, 'float64') as Float64Array;
  const lse = await kdeLogSumExp(trainA, n, testA, m, d, factor.U, crossPrecision ?? opts.precision ?? 'float64', opts);
  for (let j = 0; j < m; j++) lse[j]! += logNorm;
  return lse;
}

/**
 * The same estimate on the generic kernels (the js backend's float64 loops: the reference the
 * fused onnxruntime graph is tested against).
 */
async function kdeOnKernels(train: Matrix, test: Matrix, opts: KernelOptions): Promise<Float64Array | null> {
  const n = train.rows, d = train.cols, m = test.rows;
  const trainKernels = createKernels(train.data, n, d, opts);
  // the scatter about the training mean, unbiased as scipy's
  const { mean, scatter: cov } = await meanAndScatter(train.data, n, d, trainKernels);
  const scale = silvermanFactor(n, d) ** 2 / (n - 1);
  for (let i = 0; i < cov.length; i++) cov[i]! *= scale;
  // U U^T = cov^-1 (upper U): z = (x - mean) U turns every kernel into exp(-|z_i - z_j|^2 / 2)
  const factor = precisionCholeskyWasm(cov, d);
  if (!factor) return null;
  const logNorm = -0.5 * d * Math.log(2 * Math.PI) + factor.logDetU - Math.log(n);
  const offset = new Float64Array(d); // mean U
  for (let a = 0; a < d; a++) for (let j = a; j < d; j++) offset[j]! += mean[a]! * factor.U[a * d + j]!;
  const zTrain = asFloat64(await trainKernels.whiten(factor.U, offset, 1));
  const zTest = asFloat64(await createKernels(test.data, m, d, opts).whiten(factor.U, offset, 1));
  // -|z_i - z_j|^2 / 2 = z_j . z_i - |z_i|^2 / 2 - |z_j|^2 / 2: the log-sum-exp over training
  // points i of the first two terms runs inside the backend (the [block, n] exponents never
  // reach JS); whitened about the training mean, so the expansion loses little to cancellation
  // (|z|^2 ~ d / factor^2: ~150 against float64's 1e-16 relative)
  const halfNormTrain = rowNorms(zTrain, n, d).map((v) => -0.5 * v);
  const normTest = rowNorms(zTest, m, d);
  const out = new Float64Array(m);
  const BLOCK = 1024; // test rows per product: bounds the [block, n] buffer inside the backend
  for (let j0 = 0; j0 < m; j0 += BLOCK) {
    const b = Math.min(BLOCK, m - j0);
    const lse = await createKernels(zTest.subarray(j0 * d, (j0 + b) * d), b, d, opts).logSumExpDot(zTrain, n, 1, halfNormTrain);
    for (let j = 0; j < b; j++) out[j0 + j] = lse[j]! - 0.5 * normTest[j0 + j]! + logNorm;
  }
  return out;
}

function asFloat64(v: Float32Array | Float64Array): Float64Array {
  return v instanceof Float64Array ? v : Float64Array.from(v);
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
