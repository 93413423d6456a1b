/**
 * A multivariate Student t fitted by ECME (Liu & Rubin 1995): the E-step weights each row by
 * u_i = (dof + d) / (dof + delta_i), the M-step is a u-weighted mean and scatter (the same
 * kernels as a one-component mixture), and dof maximises the actual log-likelihood given
 * the new mean and scatter (a 1-d golden-section search on log dof). The heavy-tailed
 * unimodal alternative to a Gaussian mixture, compared by BIC and held-out log-likelihood.
 */
import { createKernels, type DataKernels, type KernelOptions } from './kernels/index.js';
import { whiteningBlocks, factorize } from './gmm-em.js';
import { GmmDataError, prepareData } from './gmm-data.js';
import { centreRows } from './gmm.js';
import type { Matrix } from './types.js';

export interface StudentTOptions extends KernelOptions {
  maxIter?: number; // default 200
  /** stop when the mean log-likelihood per sample changes by less than this; default 1e-5 */
  tol?: number;
  /** added to the scatter diagonal, in units of the mean column variance (as GMM regCovar); default 1e-6 */
  regCovar?: number;
  /** starting degrees of freedom; default 10 */
  dofInit?: number;
  /** search interval for dof; default [0.5, 1e4] (the upper end is effectively Gaussian) */
  dofRange?: [number, number];
}

export interface StudentTParams {
  d: number;
  mean: Float64Array; // [d]
  /** scatter matrix Sigma [d, d] (the covariance is Sigma dof/(dof-2) for dof > 2) */
  scatter: Float64Array;
  dof: number;
}

export interface StudentTFit extends StudentTParams {
  /** mean log-likelihood per training sample (nats) at the returned parameters */
  meanLogLikelihood: number;
  /** -2 total LL + p ln n with p = d(d+1)/2 + d + 1 */
  bic: number;
  nParameters: number;
  nIter: number;
  converged: boolean;
  /** true when dof ended at an end of dofRange */
  dofAtBound: boolean;
}

const LOG_PI = Math.log(Math.PI);

/** log Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Mean over rows of log t(x_i) given squared Mahalanobis distances delta and log det U (= -1/2 log det Sigma). */
function meanLogDensity(delta: Float64Array, d: number, dof: number, logDetU: number): number {
  let s = 0;
  for (let i = 0; i < delta.length; i++) s += Math.log1p(delta[i] / dof);
  return logGamma((dof + d) / 2) - logGamma(dof / 2) - (d / 2) * (Math.log(dof) + LOG_PI) + logDetU - ((dof + d) / 2) * (s / delta.length);
}

/** dof maximising the mean log-likelihood for fixed distances: golden section on log dof. */
function bestDof(delta: Float64Array, d: number, logDetU: number, range: [number, number]): number {
  const f = (logNu: number) => meanLogDensity(delta, d, Math.exp(logNu), logDetU);
  let a = Math.log(range[0]);
  let b = Math.log(range[1]);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a);
  let x2 = a + g * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  while (b - a > 1e-7) {
    if (f1 < f2) {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + g * (b - a);
      f2 = f(x2);
    } else {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - g * (b - a);
      f1 = f(x1);
    }
  }
  return Math.exp((a + b) / 2);
}

async function distances(kernels: DataKernels, mean: Float64Array, scatter: Float64Array, d: number): Promise<{ delta: Float64Array; logDetU: number }> {
  const { comps, failed } = factorize('full', 1, d, Float64Array.of(1), mean, scatter);
  if (failed.length) throw new GmmDataError('singular', 'student-t scatter matrix is not positive definite');
  const { W, b } = whiteningBlocks(comps);
  return { delta: await kernels.mahalanobis(W, b, 1), logDetU: comps.logDetU[0] };
}

/** Fits a multivariate t to X [n, d]; throws GmmDataError for degenerate data (as fitGmm). */
export async function fitStudentT(X: Matrix, opts: StudentTOptions = {}): Promise<StudentTFit> {
  const data = prepareData(X, X.cols + 1);
  const { n, d } = data;
  const reg = (opts.regCovar ?? 1e-6) * data.varianceScale;
  const tol = opts.tol ?? 1e-5;
  const maxIter = opts.maxIter ?? 200;
  const range = opts.dofRange ?? [0.5, 1e4];
  const kernels = createKernels(data.centered, n, d, opts);

  // start from the sample moments: the data are centred, so mean 0 and scatter = covariance
  const ones = new Float64Array(n).fill(1);
  let { means: mean, scatter } = await kernels.weightedMoments(ones, Float64Array.of(n), 1);
  for (let t = 0; t < d * d; t++) scatter[t] /= n;
  for (let j = 0; j < d; j++) scatter[j * d + j] += reg;
  let dof = opts.dofInit ?? 10;
  let { delta, logDetU } = await distances(kernels, mean, scatter, d);
  let ll = meanLogDensity(delta, d, dof, logDetU);
  let converged = false;
  let nIter = 0;
  for (let it = 1; it <= maxIter; it++) {
    nIter = it;
    const u = new Float64Array(n);
    let su = 0;
    for (let i = 0; i < n; i++) su += u[i] = (dof + d) / (dof + delta[i]);
    const mom = await kernels.weightedMoments(u, Float64Array.of(su), 1);
    mean = mom.means;
    scatter = mom.scatter;
    // PX-EM (Liu, Rubin & Wu 1998): dividing by sum(u) rather than n converges in far fewer iterations
    for (let t = 0; t < d * d; t++) scatter[t] /= su;
    for (let j = 0; j < d; j++) scatter[j * d + j] += reg;
    ({ delta, logDetU } = await distances(kernels, mean, scatter, d));
    dof = bestDof(delta, d, logDetU, range);
    const next = meanLogDensity(delta, d, dof, logDetU);
    const change = next - ll;
    ll = next;
    if (Math.abs(change) < tol) {
      converged = true;
      break;
    }
  }
  const nParameters = (d * (d + 1)) / 2 + d + 1;
  const meanOut = mean.slice();
  for (let j = 0; j < d; j++) meanOut[j] += data.mean[j];
  return {
    d,
    mean: meanOut,
    scatter,
    dof,
    meanLogLikelihood: ll,
    bic: -2 * ll * n + nParameters * Math.log(n),
    nParameters,
    nIter,
    converged,
    dofAtBound: dof < range[0] * 1.001 || dof > range[1] / 1.001,
  };
}

/** Log density of a multivariate t at each row of X (nats), [n]. */
export async function studentTLogPdf(p: StudentTParams, X: Matrix, opts: KernelOptions = {}): Promise<Float64Array> {
  if (X.rows === 0) return new Float64Array(0);
  const x = centreRows(X, p.mean);
  const kernels = createKernels(x, X.rows, X.cols, opts);
  const { delta, logDetU } = await distances(kernels, new Float64Array(p.d), p.scatter, p.d);
  const { d, dof } = p;
  const c = logGamma((dof + d) / 2) - logGamma(dof / 2) - (d / 2) * (Math.log(dof) + LOG_PI) + logDetU;
  return delta.map((v) => c - ((dof + d) / 2) * Math.log1p(v / dof));
}
