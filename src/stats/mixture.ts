/**
 * The statistics engine's public face for the analysis: Gaussian mixtures (fit, BIC sweep,
 * log-density, Rosenblatt conditional CDFs), the multivariate Student t, and samplers.
 */
export { fitGmm, sweepK, gmmLogPdf, GmmDataError } from './gmm.js';
export type { GmmFitOptions, SweepOptions, SweepResult, GmmDataProblem, KernelOptions, KernelBackend, KernelPrecision } from './gmm.js';
export type { CovarianceType, GmmFit, GmmOptions, GmmParams, Matrix } from './types.js';
export { gmmConditionalCdfs, normalCdf } from './gmm-cdf.js';
export { fitStudentT, studentTLogPdf, logGamma } from './student-t.js';
export type { StudentTFit, StudentTOptions, StudentTParams } from './student-t.js';
export { plantedMixture, sampleGmm, sampleStudentT } from './gmm-sample.js';
export { parameterCount } from './gmm-em.js';
