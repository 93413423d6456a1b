/**
 * The EM skeleton of a Gaussian mixture, once for both covariance types: weighted log
 * densities (the n x k x d x d products run in the kernels), log-sum-exp responsibilities
 * in float64, the M-step with reg_covar on the diagonal, and the collapse rule (a component
 * with too few effective points or a covariance that will not factor is dropped, with a
 * warning). Everything here works in the centred coordinates of PreparedData.
 */
import type { DataKernels } from './kernels/types.js';
import { precisionCholeskyWasm } from './wasm/linalg.js';
import type { CovarianceType } from './types.js';

const LOG_2PI = Math.log(2 * Math.PI);
// scikit-learn adds 10 * eps to every component's responsibility sum so none is zero
const EPS10 = 10 * Number.EPSILON;
// Math.exp(x) is exactly 0 for every x below -745.14 (the smallest subnormal is e^-744.4)
const EXP_UNDERFLOW = -746;

/** Mixture parameters plus their factorisation, in centred coordinates. */
export interface Components {
  k: number;
  d: number;
  covariance: CovarianceType;
  weights: Float64Array; // [k], sums to 1
  means: Float64Array; // [k, d]
  covariances: Float64Array; // [k, d, d] full, [k, d] diag
  /** full: U per component [k, d, d] (U U^T = Sigma^-1); diag: 1/sqrt(variance) [k, d] */
  precChol: Float64Array;
  logDetU: Float64Array; // [k]
}

/** Factors every component; returns the parameters with their factors, or the indices that failed. */
export function factorize(
  covariance: CovarianceType, k: number, d: number, weights: Float64Array, means: Float64Array, covariances: Float64Array,
): { comps: Components; failed: number[] } {
  const failed: number[] = [];
  const precChol = new Float64Array(covariance === 'full' ? k * d * d : k * d);
  const logDetU = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    if (covariance === 'full') {
      const f = precisionCholeskyWasm(covariances.subarray(c * d * d, (c + 1) * d * d), d, precChol.subarray(c * d * d, (c + 1) * d * d));
      if (!f) {
        failed.push(c);
        continue;
      }
      logDetU[c] = f.logDetU;
    } else {
      let s = 0;
      let ok = true;
      for (let j = 0; j < d; j++) {
        const v = covariances[c * d + j];
        if (!(v > 0) || !Number.isFinite(v)) ok = false;
        const p = 1 / Math.sqrt(v);
        precChol[c * d + j] = p;
        s += Math.log(p);
      }
      if (!ok) failed.push(c);
      logDetU[c] = s;
    }
  }
  return { comps: { k, d, covariance, weights, means, covariances, precChol, logDetU }, failed };
}

/** Per-sample, per-component log N(x_i; mu_c, Sigma_c) (without the weights), [n, k]. */
export async function componentLogDensities(comps: Components, kernels: DataKernels, x: Float64Array): Promise<Float64Array> {
  const { k, d } = comps;
  const n = kernels.n;
  let sq: Float64Array;
  if (comps.covariance === 'full') {
    sq = await kernels.mahalanobis(comps.precChol, whiteningOffsets(comps), k);
  } else {
    // |(x - mu) p|^2 = [x^2 | x] . [p^2 | -2 mu p^2] + sum(mu^2 p^2): one narrow product (as scikit-learn's diag)
    const Cd = new Float64Array(k * 2 * d);
    const offset = new Float64Array(k);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) {
        const p2 = comps.precChol[c * d + j] ** 2;
        const mu = comps.means[c * d + j];
        Cd[c * 2 * d + j] = p2;
        Cd[c * 2 * d + d + j] = -2 * mu * p2;
        offset[c] += mu * mu * p2;
      }
    }
    sq = await squaresKernels(kernels, x).crossDot(Cd, k);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) sq[i * k + c] = Math.max(0, sq[i * k + c] + offset[c]);
  }
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) sq[i * k + c] = -0.5 * (d * LOG_2PI + sq[i * k + c]) + comps.logDetU[c];
  }
  return sq;
}

const squares = new WeakMap<DataKernels, DataKernels>();

/** Kernels on [x^2 | x] ([n, 2d]) beside the ones on x, made once per data matrix. */
function squaresKernels(kernels: DataKernels, x: Float64Array): DataKernels {
  let sk = squares.get(kernels);
  if (!sk) {
    const { n, d } = kernels;
    const y = new Float64Array(n * 2 * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const v = x[i * d + j];
        y[i * 2 * d + j] = v * v;
        y[i * 2 * d + d + j] = v;
      }
    }
    sk = kernels.derive(y, 2 * d);
    squares.set(kernels, sk);
  }
  return sk;
}

/** b_c = mu_c U_c as [k*d]: the offsets of the whitening products. */
export function whiteningOffsets(comps: Components): Float64Array {
  const { k, d } = comps;
  const b = new Float64Array(k * d);
  for (let c = 0; c < k; c++) {
    const U = comps.precChol.subarray(c * d * d, (c + 1) * d * d);
    for (let a = 0; a < d; a++) {
      const ma = comps.means[c * d + a];
      for (let j = a; j < d; j++) b[c * d + j] += ma * U[a * d + j];
    }
  }
  return b;
}

/** W = [U_1 .. U_k] as [d, k*d] and b_c = mu_c U_c as [k*d]: the inputs of the whitening products. */
export function whiteningBlocks(comps: Components): { W: Float64Array; b: Float64Array } {
  const { k, d } = comps;
  const m = k * d;
  const W = new Float64Array(d * m);
  const b = new Float64Array(m);
  for (let c = 0; c < k; c++) {
    const U = comps.precChol.subarray(c * d * d, (c + 1) * d * d);
    const mu = comps.means.subarray(c * d, (c + 1) * d);
    for (let a = 0; a < d; a++) {
      W.set(U.subarray(a * d, (a + 1) * d), a * m + c * d);
      const ma = mu[a];
      for (let j = a; j < d; j++) b[c * d + j] += ma * U[a * d + j];
    }
  }
  return { W, b };
}

export interface EStep {
  /** responsibilities [n, k] */
  resp: Float64Array;
  /** log p(x_i) under the mixture [n] */
  logDensity: Float64Array;
  /** mean of logDensity: scikit-learn's lower bound for a GMM */
  meanLogLikelihood: number;
}

/** E-step: weighted log densities, log-sum-exp per row, responsibilities. */
export async function eStep(comps: Components, kernels: DataKernels, x: Float64Array): Promise<EStep> {
  const { k } = comps;
  const n = kernels.n;
  const lp = await componentLogDensities(comps, kernels, x);
  const logW = Array.from(comps.weights, (w) => Math.log(w));
  const logDensity = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = (lp[i * k + c] += logW[c]);
      if (v > mx) mx = v;
    }
    // exp once per entry: the responsibilities are those terms over their sum. Below
    // EXP_UNDERFLOW exp is exactly 0 in float64, and in high d most components sit that far
    // below the row's best: skipping the call changes no bit
    let s = 0;
    for (let c = 0; c < k; c++) {
      const t = lp[i * k + c] - mx;
      s += lp[i * k + c] = t < EXP_UNDERFLOW ? 0 : Math.exp(t);
    }
    const lse = mx + Math.log(s);
    logDensity[i] = lse;
    total += lse;
    const inv = 1 / s;
    for (let c = 0; c < k; c++) lp[i * k + c] *= inv;
  }
  return { resp: lp, logDensity, meanLogLikelihood: total / n };
}

export interface MStep {
  comps: Components;
  /** human-readable notes on dropped components */
  warnings: string[];
}

/**
 * M-step from responsibilities: weights, means, covariances + reg on the diagonal, then the
 * factors. Components with fewer than minPoints effective points or an unfactorable
 * covariance are dropped (the others keep their order); throws if none is left.
 */
export async function mStep(
  resp: Float64Array, k: number, covariance: CovarianceType, kernels: DataKernels, x: Float64Array, reg: number, minPoints: number,
): Promise<MStep> {
  const { n, d } = kernels;
  const warnings: string[] = [];
  const sumR = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) sumR[c] += resp[i * k + c];
  for (let c = 0; c < k; c++) sumR[c] += EPS10;
  const keep: number[] = [];
  for (let c = 0; c < k; c++) {
    if (sumR[c] >= minPoints) keep.push(c);
    else warnings.push(`component ${c + 1} of ${k} dropped: ${sumR[c].toFixed(1)} effective points < ${minPoints}`);
  }
  if (keep.length === 0) throw new Error(`every mixture component collapsed (k = ${k}, fewer than ${minPoints} effective points each)`);
  if (keep.length < k) return mStep(selectColumns(resp, n, k, keep), keep.length, covariance, kernels, x, reg, minPoints).then((m) => ({ ...m, warnings: [...warnings, ...m.warnings] }));

  let means: Float64Array;
  let covariances: Float64Array;
  if (covariance === 'full') {
    const mom = await kernels.weightedMoments(resp, sumR, k);
    means = mom.means;
    covariances = mom.scatter;
    for (let c = 0; c < k; c++) {
      const o = c * d * d;
      const inv = 1 / sumR[c];
      for (let t = 0; t < d * d; t++) covariances[o + t] *= inv;
      for (let j = 0; j < d; j++) covariances[o + j * d + j] += reg;
    }
  } else {
    // E[x^2] - mu^2 per dimension from one weighted sum over [x^2 | x] (the data are centred)
    const sums = await squaresKernels(kernels, x).weightedSums(resp, k);
    means = new Float64Array(k * d);
    covariances = new Float64Array(k * d);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) {
        const mu = sums[c * 2 * d + d + j] / sumR[c];
        means[c * d + j] = mu;
        covariances[c * d + j] = Math.max(0, sums[c * 2 * d + j] / sumR[c] - mu * mu) + reg;
      }
    }
  }
  let total = 0;
  for (let c = 0; c < k; c++) total += sumR[c];
  const weights = sumR.map((s) => s / total);
  const { comps, failed } = factorize(covariance, k, d, weights, means, covariances);
  if (failed.length === 0) return { comps, warnings };
  if (failed.length === k) throw new Error(`no mixture component has a positive-definite covariance (k = ${k})`);
  for (const c of failed) warnings.push(`component ${c + 1} of ${k} dropped: covariance not positive definite`);
  const kept = [...Array(k).keys()].filter((c) => !failed.includes(c));
  const again = await mStep(selectColumns(resp, n, k, kept), kept.length, covariance, kernels, x, reg, minPoints);
  return { comps: again.comps, warnings: [...warnings, ...again.warnings] };
}

/** Responsibility columns `keep` of R [n, k], each row renormalised to sum 1. */
function selectColumns(R: Float64Array, n: number, k: number, keep: number[]): Float64Array {
  const m = keep.length;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < m; t++) s += out[i * m + t] = R[i * k + keep[t]];
    // a row whose mass sat entirely on dropped components is shared evenly
    if (s > 0) for (let t = 0; t < m; t++) out[i * m + t] /= s;
    else for (let t = 0; t < m; t++) out[i * m + t] = 1 / m;
  }
  return out;
}

/** Free parameters as scikit-learn counts them: covariances + means + (k - 1) weights. */
export function parameterCount(covariance: CovarianceType, k: number, d: number): number {
  const cov = covariance === 'full' ? (k * d * (d + 1)) / 2 : k * d;
  return cov + k * d + k - 1;
}
