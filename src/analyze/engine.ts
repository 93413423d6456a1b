import type { GmmFit, GmmParams, Matrix } from '../stats/types.js';
import { gmmLogPdf, sweepK } from '../stats/gmm.js';
import { fitStudentT, studentTLogPdf, type StudentTParams } from '../stats/student-t.js';
import type { KernelOptions } from '../stats/kernels/index.js';

/**
 * The fitting calls the per-unit pipeline needs (the GMM engine of src/stats/gmm.ts and
 * student-t.ts), behind one small interface so tests can count or replace them.
 */
export type TParams = StudentTParams;

/** What analyzeUnit needs from a mixture / Student-t fitter. */
export interface FitEngine {
  /** K = 1..kMax fits in order of K (a fit may have fewer components when some collapsed) */
  sweep(X: Matrix, opts: { kMax: number; covariance: 'full' | 'diag'; seed: number }): Promise<GmmFit[]>;
  logPdf(params: GmmParams, X: Matrix): Promise<Float64Array>;
  fitT(X: Matrix): Promise<{ params: TParams; bic: number; meanLogLikelihood: number }>;
  tLogPdf(params: TParams, X: Matrix): Promise<Float64Array>;
}

/** The engine on the given kernel options (threads: onnxruntime intra-op threads per unit). */
export function createEngine(kernel: KernelOptions = {}): FitEngine {
  return {
    sweep: async (X, o) => (await sweepK(X, { kMax: o.kMax, covariance: o.covariance, seed: o.seed, ...kernel })).fits,
    logPdf: (p, X) => gmmLogPdf(p, X, kernel),
    fitT: async (X) => {
      const t = await fitStudentT(X, kernel);
      return { params: { d: t.d, mean: t.mean, scatter: t.scatter, dof: t.dof }, bic: t.bic, meanLogLikelihood: t.meanLogLikelihood };
    },
    tLogPdf: (p, X) => studentTLogPdf(p, X, kernel),
  };
}
