import type { GmmFit, GmmParams, Matrix } from '../stats/types.js';
import * as fallback from './gmm-fallback.js';

/**
 * The fitting calls the per-unit pipeline needs, in one place so the GMM engine behind them
 * can be swapped without touching the pipeline.
 */
export interface TParams {
  d: number;
  mean: Float64Array;
  scatter: Float64Array;
  dof: number;
}

export interface FitEngine {
  /** K = 1..kMax fits; fits[i] has K = i + 1 (fewer when components were dropped) */
  sweep(X: Matrix, opts: { kMax: number; covariance: 'full' | 'diag'; seed: number }): Promise<GmmFit[]>;
  logPdf(params: GmmParams, X: Matrix): Promise<Float64Array>;
  fitT(X: Matrix): Promise<{ params: TParams; bic: number; meanLogLikelihood: number }>;
  tLogPdf(params: TParams, X: Matrix): Promise<Float64Array>;
}

/** The engine used by analyzeUnit. */
export const defaultEngine: FitEngine = {
  sweep: (X, o) => fallback.sweepK(X, { kMax: o.kMax, covariance: o.covariance, seed: o.seed }),
  logPdf: async (p, X) => fallback.gmmLogPdf(p, X),
  fitT: async (X) => {
    const t = await fallback.fitStudentT(X);
    return { params: { d: X.cols, mean: t.mean, scatter: t.scatter, dof: t.dof }, bic: t.bic, meanLogLikelihood: t.meanLogLikelihood };
  },
  tLogPdf: async (p, X) => fallback.studentTLogPdf(p, X),
};
