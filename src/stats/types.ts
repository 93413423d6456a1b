/**
 * Shared shapes of the statistics layer. Matrices are row-major: element (i, j) of an
 * n x d matrix is data[i * d + j].
 */
export interface Matrix {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

export type CovarianceType = 'full' | 'diag';

export interface GmmOptions {
  k: number;
  covariance?: CovarianceType; // default 'full'
  /** 'kmeans' (k-means++ seeded k-means, as scikit-learn) or explicit starting parameters */
  init?: 'kmeans' | 'random' | GmmParams;
  nInit?: number; // default 1
  maxIter?: number; // default 100
  tol?: number; // default 1e-3, on the change of mean log-likelihood per sample
  regCovar?: number; // default 1e-6, see the engine's docs for how it is scaled to the data
  seed?: number; // default 0
}

export interface GmmParams {
  k: number;
  d: number;
  covariance: CovarianceType;
  weights: Float64Array; // [k]
  means: Float64Array; // [k, d]
  /** [k, d, d] for full, [k, d] for diag */
  covariances: Float64Array;
}

export interface GmmFit extends GmmParams {
  /** upper-triangular U with U U^T = Sigma^-1 per component, as scikit-learn's precisions_cholesky_ ([k,d,d] full, [k,d] diag) */
  precisionsCholesky: Float64Array;
  /** mean log-likelihood per training sample (nats) */
  meanLogLikelihood: number;
  nIter: number;
  converged: boolean;
  /** -2 * total log-likelihood + p ln n (scikit-learn's sign) */
  bic: number;
  nParameters: number;
  /** components dropped or re-seeded because they collapsed; empty when none */
  warnings: string[];
  /** mean log-likelihood at the last E-step before the final M-step (scikit-learn's lower_bound_) */
  lowerBound: number;
  /** components asked for; k is smaller when some were dropped (see warnings) */
  kRequested: number;
  /** the value actually added to each covariance diagonal (regCovar x mean column variance) */
  regCovarAbsolute: number;
}
