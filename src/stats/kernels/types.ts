/**
 * The heavy n x d x d work of EM, as three products bound to one data matrix X [n, d], so
 * the algorithms (GMM, Student-t, k-means, Rosenblatt) are written once and a backend
 * (plain JS float64, onnxruntime CPU float32/float64, later a GPU provider) is swapped in.
 */
export type KernelBackend = 'js' | 'ort';
export type KernelPrecision = 'float32' | 'float64';

export interface KernelOptions {
  /** 'ort' (onnxruntime MatMul, multi-threaded) or 'js' (float64 loops, the reference); default 'ort' */
  backend?: KernelBackend;
  /** element type inside the ort graphs; default 'float32' (the js backend is always float64) */
  precision?: KernelPrecision;
  /** onnxruntime intra-op threads; default: all cores (for many units, prefer 1 per worker thread) */
  threads?: number;
  /** let idle onnxruntime workers spin-wait; default false (spinning loses badly when cores are shared) */
  spinning?: boolean;
  /** onnxruntime execution providers; default ['cpu'] */
  executionProviders?: string[];
}

/** Kernels bound to one data matrix X [n, d]; every result is float64 for the JS side. */
export interface DataKernels {
  readonly n: number;
  readonly d: number;
  /**
   * Squared norms of the whitened rows: sq[i, k] = |x_i U_k - b_k|^2, [n, k] row-major, where
   * U = [U_1; ..; U_k] is the k factors stacked, [k, d, d] row-major (for k = 1 the same as
   * `whiten`'s W), and b = [b_1 .. b_k] is [k*d] (b_k = mu_k U_k). Each U_k must be upper
   * triangular (a precision Cholesky factor): backends may skip its zeros.
   */
  mahalanobis(U: Float64Array, b: Float64Array, k: number): Promise<Float64Array>;
  /** The whitened rows themselves, z[i, k*d + j] = (x_i U_k - b_k)_j, [n, k*d]. */
  whiten(W: Float64Array, b: Float64Array, k: number): Promise<Float32Array | Float64Array>;
  /**
   * Weighted moments for responsibilities R [n, k] with column sums sumR [k]: means [k, d]
   * = R^T X / sumR and scatter [k, d, d] = sum_i R_ik (x_i - mean_k)(x_i - mean_k)^T
   * (not divided by anything; symmetric).
   */
  weightedMoments(R: Float64Array, sumR: Float64Array, k: number): Promise<{ means: Float64Array; scatter: Float64Array }>;
  /** Dot products with k centres C [k, d]: out[i, c] = x_i . c_c, [n, k]. */
  crossDot(C: Float64Array, k: number): Promise<Float64Array>;
  /**
   * Log-sum-exp of the scaled dot products with k rows C [k, d]: out[i] = ln sum_c
   * exp(scale (x_i . c_c + offsets_c)), [n] (offsets [k], default 0), stable for any
   * magnitude (only n values leave the backend).
   */
  logSumExpDot(C: Float64Array, k: number, scale: number, offsets?: Float64Array): Promise<Float64Array>;
  /**
   * Gaussian log-moment-generating values for k (mean, covariance) pairs, mu [k, d] and
   * S [k, d, d] (symmetric): out[i, c] = linScale mu_c . x_i + quadScale x_i^T S_c x_i, [n, k].
   */
  gaussianLogits(mu: Float64Array, S: Float64Array, k: number, linScale: number, quadScale: number): Promise<Float64Array>;
  /**
   * One Lloyd step against centres C [k, d]: the nearest centre of each row (first on ties),
   * its squared distance, and the per-label row sums [k, d] and counts [k], in one pass.
   */
  kmeansStep(C: Float64Array, k: number): Promise<KMeansStep>;
  /** Weighted column sums R^T X for responsibilities R [n, k]: [k, d]. */
  weightedSums(R: Float64Array, k: number): Promise<Float64Array>;
  /** Kernels on another matrix Y [n, dy] with the same backend and options. */
  derive(Y: Float64Array, dy: number): DataKernels;
}

export interface KMeansStep {
  labels: Int32Array; // [n]
  /** squared distance of each row to its centre [n] */
  minDist: Float64Array;
  sums: Float64Array; // [k, d]
  counts: Float64Array; // [k]
}
