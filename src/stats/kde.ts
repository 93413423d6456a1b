import type { Matrix } from './types.js';
import { createKernels, type KernelOptions } from './kernels/index.js';
import { precisionCholeskyWasm } from './wasm/linalg.js';

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
 * Every n x d x d and n x m x d product (covariance, whitening, train x test cross products)
 * runs on the engine's kernels (onnxruntime, float64 by default); JS keeps the d x d factor
 * (WebAssembly) and the log-sum-exp.
 */
export async function kdeLogPdf(train: Matrix, test: Matrix, kernel: KernelOptions = { precision: 'float64' }): Promise<Float64Array | null> {
  const n = train.rows, d = train.cols, m = test.rows;
  if (test.cols !== d) throw new RangeError(`kde: train has ${d} columns, test ${test.cols}`);
  const opts: KernelOptions = { precision: 'float64', ...kernel };
  const trainKernels = createKernels(train.data, n, d, opts);
  // the scatter about the training mean (the kernels centre it), unbiased as scipy's
  const ones = new Float64Array(n).fill(1);
  const { means: mean, scatter: cov } = await trainKernels.weightedMoments(ones, Float64Array.of(n), 1);
  const scale = silvermanFactor(n, d) ** 2 / (n - 1);
  for (let i = 0; i < cov.length; i++) cov[i]! *= scale;
  // U U^T = cov^-1 (upper U): z = (x - mean) U turns every kernel into exp(-|z_i - z_j|^2 / 2)
  const factor = precisionCholeskyWasm(cov, d);
  if (!factor) return null;
  const logNorm = -0.5 * d * Math.log(2 * Math.PI) + factor.logDetU - Math.log(n);
  const offset = new Float64Array(d); // mean U
  for (let a = 0; a < d; a++) for (let j = a; j < d; j++) offset[j]! += mean[a]! * factor.U[a * d + j]!;
  // whitened about the training mean, so |a|^2 + |b|^2 - 2ab loses little to cancellation
  const zTrain = Float64Array.from(await trainKernels.whiten(factor.U, offset, 1));
  const zTest = Float64Array.from(await createKernels(test.data, m, d, opts).whiten(factor.U, offset, 1));
  const normTrain = rowNorms(zTrain, n, d);
  const normTest = rowNorms(zTest, m, d);
  const kernels = createKernels(zTrain, n, d, opts);
  const out = new Float64Array(m);
  const BLOCK = 1024; // test rows per product: bounds the [n, block] buffer
  for (let j0 = 0; j0 < m; j0 += BLOCK) {
    const b = Math.min(BLOCK, m - j0);
    const e = await kernels.crossDot(zTest.subarray(j0 * d, (j0 + b) * d), b); // [n, b] dot products, then exponents in place
    const max = new Float64Array(b).fill(-Infinity), sum = new Float64Array(b);
    for (let i = 0; i < n; i++) {
      const row = i * b, ni = normTrain[i]!;
      for (let j = 0; j < b; j++) {
        const v = -0.5 * Math.max(0, ni + normTest[j0 + j]! - 2 * e[row + j]!);
        e[row + j] = v;
        if (v > max[j]!) max[j] = v;
      }
    }
    for (let i = 0; i < n; i++) {
      const row = i * b;
      for (let j = 0; j < b; j++) {
        // in d = 128 most kernels are below e^-40 of the largest: n of them move the sum by
        // < n e^-40 (1e-14 relative at n = 3277), so their exp is not worth its cost
        const t = e[row + j]! - max[j]!;
        if (t > NEGLIGIBLE_LOG_RATIO) sum[j]! += Math.exp(t);
      }
    }
    for (let j = 0; j < b; j++) out[j0 + j] = max[j]! + Math.log(sum[j]!) + logNorm;
  }
  return out;
}

/** A kernel this far (in nats) below the largest one of its test point is left out of the sum. */
const NEGLIGIBLE_LOG_RATIO = -40;

function rowNorms(Z: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += Z[i * d + c]! * Z[i * d + c]!;
    out[i] = s;
  }
  return out;
}
