/**
 * A multivariate Student t fitted by ECME (Liu & Rubin 1995): the E-step weights each row by
 * u_i = (dof + d) / (dof + delta_i), the M-step is a u-weighted mean and scatter (one
 * weighted Gram product of the centred rows, kernels/ecme.ts), and dof maximises the actual
 * log-likelihood given the new mean and scatter (the root of its slope in log dof). The heavy-tailed
 * unimodal alternative to a Gaussian mixture, compared by BIC and held-out log-likelihood.
 */
import type { KernelOptions } from './kernels/index.js';
import { createEcmeKernels } from './kernels/ecme.js';
import { checkData, GmmDataError } from './gmm-data.js';
import { precisionCholeskyWasm } from './wasm/linalg.js';
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
  for (let i = 0; i < delta.length; i++) s += Math.log1p(delta[i]! / dof);
  return logGamma((dof + d) / 2) - logGamma(dof / 2) - (d / 2) * (Math.log(dof) + LOG_PI) + logDetU - ((dof + d) / 2) * (s / delta.length);
}

/** digamma psi(x) = d/dx ln Gamma(x) for x > 0: recurrence up to x >= 10, then the asymptotic series (~1e-15 absolute). */
export function digamma(x: number): number {
  let shift = 0;
  while (x < 10) {
    shift -= 1 / x;
    x += 1;
  }
  const r = 1 / (x * x);
  // ln x - 1/2x - sum B_2k / (2k x^2k), k = 1..6
  const series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132 - r * (691 / 32760))))));
  return shift + Math.log(x) - 0.5 / x - series;
}

/**
 * d/d dof of meanLogDensity at fixed distances: 1/2 [psi((dof + d)/2) - psi(dof/2)] - d / 2dof
 * - 1/2 mean ln(1 + delta/dof) + (dof + d) / 2dof mean delta / (dof + delta). One pass over delta.
 */
export function dofSlope(delta: Float64Array, d: number, dof: number): number {
  let logs = 0;
  let ratios = 0;
  for (let i = 0; i < delta.length; i++) {
    const v = delta[i]!;
    logs += Math.log1p(v / dof);
    ratios += v / (dof + v);
  }
  const n = delta.length;
  return 0.5 * (digamma((dof + d) / 2) - digamma(dof / 2)) - d / (2 * dof) - (0.5 * logs) / n + ((dof + d) / (2 * dof)) * (ratios / n);
}

/**
 * dof maximising the mean log-likelihood for fixed distances: the root of its slope in log dof
 * (Brent's method, ~10 passes over delta; the golden section on the log-likelihood itself took
 * ~38 and could not resolve the flat maximum below ~1e-6 of dof), or an end of the range when
 * the slope does not change sign there. Assumes one maximum in the range, as any 1-d search would.
 */
export function bestDof(delta: Float64Array, d: number, range: [number, number]): number {
  const slope = (logNu: number) => dofSlope(delta, d, Math.exp(logNu));
  const lo = Math.log(range[0]);
  const hi = Math.log(range[1]);
  const fLo = slope(lo);
  if (!(fLo > 0)) return range[0];
  const fHi = slope(hi);
  if (!(fHi < 0)) return range[1];
  return Math.exp(brentRoot(slope, lo, hi, fLo, fHi, 1e-10));
}

/** A root of f in [a, b] where f(a), f(b) differ in sign (Brent 1973: bisection, secant and inverse quadratic steps). */
function brentRoot(f: (x: number) => number, a: number, b: number, fa: number, fb: number, tol: number): number {
  let c = a;
  let fc = fa;
  let step = b - a;
  let prevStep = step;
  for (let it = 0; it < 200; it++) {
    if (fb * fc > 0) {
      // keep the root between b and c
      c = a;
      fc = fa;
      step = prevStep = b - a;
    }
    if (Math.abs(fc) < Math.abs(fb)) {
      // b is the best estimate so far
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    const tol1 = 2 * Number.EPSILON * Math.abs(b) + 0.5 * tol;
    const half = 0.5 * (c - b);
    if (Math.abs(half) <= tol1 || fb === 0) return b;
    if (Math.abs(prevStep) >= tol1 && Math.abs(fa) > Math.abs(fb)) {
      const s = fb / fa;
      let p: number;
      let q: number;
      if (a === c) {
        p = 2 * half * s; // secant
        q = 1 - s;
      } else {
        const qa = fa / fc; // inverse quadratic interpolation
        const r = fb / fc;
        p = s * (2 * half * qa * (qa - r) - (b - a) * (r - 1));
        q = (qa - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q;
      p = Math.abs(p);
      if (2 * p < Math.min(3 * half * q - Math.abs(tol1 * q), Math.abs(prevStep * q))) {
        prevStep = step;
        step = p / q;
      } else {
        step = half; // the interpolation would leave the bracket or shrink it too slowly: bisect
        prevStep = step;
      }
    } else {
      step = half;
      prevStep = step;
    }
    a = b;
    fa = fb;
    b += Math.abs(step) > tol1 ? step : half > 0 ? tol1 : -tol1;
    fb = f(b);
  }
  return b;
}

/** The whitening of a scatter matrix (U U^T = Sigma^-1, b = mean U) and log det U; throws when Sigma is not positive definite. */
function whitening(mean: Float64Array, scatter: Float64Array, d: number): { U: Float64Array; b: Float64Array; logDetU: number } {
  const f = precisionCholeskyWasm(scatter, d);
  if (!f) throw new GmmDataError('singular', 'student-t scatter matrix is not positive definite');
  const b = new Float64Array(d);
  for (let a = 0; a < d; a++) {
    const m = mean[a]!;
    if (m === 0) continue;
    for (let j = a; j < d; j++) b[j]! += m * f.U[a * d + j]!;
  }
  return { U: f.U, b, logDetU: f.logDetU };
}

/**
 * Mean [d] and scatter [d, d] divided by `divisor` (plus reg on the diagonal) from a weighted
 * Gram matrix G [d+1, d+1] of [x | 1] with weight total `total`: sum u (x - m)(x - m)^T =
 * G_xx - s s^T / total for the weighted sums s = G_x1 and m = s / total. The rows are centred
 * on the column means, so |m| is a small fraction of a standard deviation and the subtraction
 * loses almost nothing.
 */
function momentsFromGram(G: Float64Array, d: number, total: number, divisor: number, reg: number): { mean: Float64Array; scatter: Float64Array } {
  const m = d + 1;
  const sums = new Float64Array(d);
  for (let a = 0; a < d; a++) sums[a] = 0.5 * (G[a * m + d]! + G[d * m + a]!);
  const mean = sums.map((v) => v / total);
  const scatter = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) {
      const v = (0.5 * (G[a * m + b]! + G[b * m + a]!) - (sums[a]! * sums[b]!) / total) / divisor;
      scatter[a * d + b] = scatter[b * d + a] = v;
    }
    scatter[a * d + a]! += reg;
  }
  return { mean, scatter };
}

/** Fits a multivariate t to X [n, d]; throws GmmDataError for degenerate data (as fitGmm). */
export async function fitStudentT(X: Matrix, opts: StudentTOptions = {}): Promise<StudentTFit> {
  const data = checkData(X, X.cols + 1);
  const { n, d } = data;
  const reg = (opts.regCovar ?? 1e-6) * data.varianceScale;
  const tol = opts.tol ?? 1e-5;
  const maxIter = opts.maxIter ?? 200;
  const range = opts.dofRange ?? [0.5, 1e4];
  // the rows centred on their column means, once, in the products' precision
  const kernels = createEcmeKernels(X.data, n, d, data.mean, opts);

  // start from the sample moments (mean ~0: the rows are centred)
  const u = new Float64Array(n).fill(1);
  let { mean, scatter } = momentsFromGram(await kernels.weightedGram(u), d, n, n, reg);
  let dof = opts.dofInit ?? 10;
  let w = whitening(mean, scatter, d);
  let delta = await kernels.distances(w.U, w.b);
  let ll = meanLogDensity(delta, d, dof, w.logDetU);
  let converged = false;
  let nIter = 0;
  for (let it = 1; it <= maxIter; it++) {
    nIter = it;
    let su = 0;
    for (let i = 0; i < n; i++) su += u[i] = (dof + d) / (dof + delta[i]!);
    // PX-EM (Liu, Rubin & Wu 1998): dividing by sum(u) rather than n converges in far fewer iterations
    ({ mean, scatter } = momentsFromGram(await kernels.weightedGram(u), d, su, su, reg));
    w = whitening(mean, scatter, d);
    delta = await kernels.distances(w.U, w.b);
    dof = bestDof(delta, d, range);
    const next = meanLogDensity(delta, d, dof, w.logDetU);
    const change = next - ll;
    ll = next;
    if (Math.abs(change) < tol) {
      converged = true;
      break;
    }
  }
  const nParameters = (d * (d + 1)) / 2 + d + 1;
  const meanOut = mean.slice();
  for (let j = 0; j < d; j++) meanOut[j]! += data.mean[j]!;
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
  const { rows: n, cols: d, data } = X;
  if (d !== p.d || data.length !== n * d) throw new GmmDataError('bad-shape', `data is ${n} x ${d} (${data.length} values), the model has d ${p.d}`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new GmmDataError('non-finite', `data has a non-finite value (${data[i]}) at row ${Math.floor(i / d)}, column ${i % d}`);
  }
  // centred on the t's own mean: the whitening's offset is then zero
  const w = whitening(new Float64Array(d), p.scatter, d);
  const delta = await createEcmeKernels(data, n, d, p.mean, opts).distances(w.U, w.b);
  const { dof } = p;
  const c = logGamma((dof + d) / 2) - logGamma(dof / 2) - (d / 2) * (Math.log(dof) + LOG_PI) + w.logDetU;
  return delta.map((v) => c - ((dof + d) / 2) * Math.log1p(v / dof));
}
