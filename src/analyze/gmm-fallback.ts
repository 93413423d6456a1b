import type { GmmFit, GmmOptions, GmmParams, Matrix } from '../stats/types.js';
import { createRng } from '../util/rng.js';
import { cholesky, forwardSolve, logDetFromCholesky, logSumExp, meanAndCovariance } from '../stats/small-linalg.js';

/**
 * INTERIM plain-JS EM behind the engine's signatures (src/stats/gmm.ts, issue 6), so the
 * analysis can be built and tested before the engine lands. Slow (no matrix kernels): test sizes only.
 */

const LOG_2PI = Math.log(2 * Math.PI);

/** Fits one K-component mixture by EM from a k-means++ start (scikit-learn's semantics, simplified). */
export async function fitGmm(X: Matrix, opts: GmmOptions): Promise<GmmFit> {
  const n = X.rows, d = X.cols, k = opts.k;
  const covariance = opts.covariance ?? 'full';
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-3;
  const rng = createRng(opts.seed ?? 0);
  const { cov: dataCov } = meanAndCovariance(X.data, n, d, 0);
  let meanVar = 0;
  for (let j = 0; j < d; j++) meanVar += dataCov[j * d + j]! / d;
  const reg = (opts.regCovar ?? 1e-6) * Math.max(meanVar, 1e-12);
  const resp = kmeansResponsibilities(X, k, rng);
  let params = mStep(X, resp, k, covariance, reg);
  let prev = -Infinity, ll = -Infinity, iter = 0, converged = false;
  const logProb = new Float64Array(n * k);
  for (iter = 1; iter <= maxIter; iter++) {
    ll = eStep(X, params, logProb, resp);
    if (Math.abs(ll - prev) < tol) { converged = true; break; }
    prev = ll;
    params = mStep(X, resp, k, covariance, reg);
  }
  ll = eStep(X, params, logProb, resp);
  const nParameters = covariance === 'full' ? k * (d * (d + 1)) / 2 + k * d + k - 1 : 2 * k * d + k - 1;
  return {
    ...params,
    precisionsCholesky: new Float64Array(0),
    meanLogLikelihood: ll,
    nIter: Math.min(iter, maxIter),
    converged,
    bic: -2 * ll * n + nParameters * Math.log(n),
    nParameters,
    warnings: [],
    lowerBound: ll,
    kRequested: k,
    regCovarAbsolute: reg,
  };
}

/** K = 1..kMax fits of the same data. */
export async function sweepK(X: Matrix, opts: Omit<GmmOptions, 'k'> & { kMax: number }): Promise<GmmFit[]> {
  const fits: GmmFit[] = [];
  for (let k = 1; k <= opts.kMax; k++) fits.push(await fitGmm(X, { ...opts, k }));
  return fits;
}

/** Log density (nats) of the mixture at each row of X. */
export function gmmLogPdf(params: GmmParams, X: Matrix): Float64Array {
  const logProb = new Float64Array(X.rows * params.k);
  const out = new Float64Array(X.rows);
  componentLogDensities(X, params, logProb);
  for (let i = 0; i < X.rows; i++) out[i] = logSumExp(logProb.subarray(i * params.k, (i + 1) * params.k));
  return out;
}

/** weighted log N(x_i | mu_k, Sigma_k) + ln w_k into logProb [n, k]. */
function componentLogDensities(X: Matrix, p: GmmParams, logProb: Float64Array): void {
  const n = X.rows, d = X.cols, k = p.k;
  const diff = new Float64Array(d), z = new Float64Array(d);
  for (let c = 0; c < k; c++) {
    const full = fullCovariance(p, c);
    const L = cholesky(full, d);
    if (!L) throw new Error(`component ${c} has a singular covariance`);
    const logDet = logDetFromCholesky(L, d);
    const lw = Math.log(p.weights[c]!);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) diff[j] = X.data[i * d + j]! - p.means[c * d + j]!;
      forwardSolve(L, d, diff, z);
      let q = 0;
      for (let j = 0; j < d; j++) q += z[j]! * z[j]!;
      logProb[i * k + c] = lw - 0.5 * (d * LOG_2PI + logDet + q);
    }
  }
}

function fullCovariance(p: GmmParams, c: number): Float64Array {
  const d = p.d;
  if (p.covariance === 'full') return p.covariances.slice(c * d * d, (c + 1) * d * d);
  const out = new Float64Array(d * d);
  for (let j = 0; j < d; j++) out[j * d + j] = p.covariances[c * d + j]!;
  return out;
}

function eStep(X: Matrix, p: GmmParams, logProb: Float64Array, resp: Float64Array): number {
  const n = X.rows, k = p.k;
  componentLogDensities(X, p, logProb);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = logProb.subarray(i * k, (i + 1) * k);
    const lse = logSumExp(row);
    total += lse;
    for (let c = 0; c < k; c++) resp[i * k + c] = Math.exp(row[c]! - lse);
  }
  return total / n;
}

function mStep(X: Matrix, resp: Float64Array, k: number, covariance: 'full' | 'diag', reg: number): GmmParams {
  const n = X.rows, d = X.cols;
  const weights = new Float64Array(k), means = new Float64Array(k * d);
  const covariances = new Float64Array(covariance === 'full' ? k * d * d : k * d);
  for (let c = 0; c < k; c++) {
    let nk = 1e-10;
    for (let i = 0; i < n; i++) nk += resp[i * k + c]!;
    weights[c] = nk / n;
    for (let i = 0; i < n; i++) {
      const r = resp[i * k + c]!;
      if (r === 0) continue;
      for (let j = 0; j < d; j++) means[c * d + j]! += r * X.data[i * d + j]!;
    }
    for (let j = 0; j < d; j++) means[c * d + j]! /= nk;
    const diff = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const r = resp[i * k + c]!;
      if (r < 1e-12) continue;
      for (let j = 0; j < d; j++) diff[j] = X.data[i * d + j]! - means[c * d + j]!;
      if (covariance === 'full') {
        const base = c * d * d;
        for (let a = 0; a < d; a++) {
          const ra = r * diff[a]!;
          for (let b = 0; b <= a; b++) covariances[base + a * d + b]! += ra * diff[b]!;
        }
      } else {
        for (let a = 0; a < d; a++) covariances[c * d + a]! += r * diff[a]! * diff[a]!;
      }
    }
    if (covariance === 'full') {
      const base = c * d * d;
      for (let a = 0; a < d; a++) {
        for (let b = 0; b <= a; b++) {
          const v = covariances[base + a * d + b]! / nk + (a === b ? reg : 0);
          covariances[base + a * d + b] = v;
          covariances[base + b * d + a] = v;
        }
      }
    } else {
      for (let a = 0; a < d; a++) covariances[c * d + a] = covariances[c * d + a]! / nk + reg;
    }
  }
  return { k, d, covariance, weights, means, covariances };
}

/** Hard k-means (k-means++ seeding, 20 Lloyd steps) as one-hot responsibilities [n, k]. */
function kmeansResponsibilities(X: Matrix, k: number, rng: ReturnType<typeof createRng>): Float64Array {
  const n = X.rows, d = X.cols;
  const centres = new Float64Array(k * d);
  const dist = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < d; j++) centres[c * d + j] = X.data[pick * d + j]!;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) { const t = X.data[i * d + j]! - centres[c * d + j]!; s += t * t; }
      if (s < dist[i]!) dist[i] = s;
      total += dist[i]!;
    }
    let u = rng.next() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) { u -= dist[i]!; if (u <= 0) { pick = i; break; } }
  }
  const label = new Int32Array(n);
  for (let step = 0; step < 20; step++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0, bestD = Infinity;
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) { const t = X.data[i * d + j]! - centres[c * d + j]!; s += t * t; }
        if (s < bestD) { bestD = s; best = c; }
      }
      if (label[i] !== best || step === 0) changed++;
      label[i] = best;
    }
    const counts = new Float64Array(k);
    centres.fill(0);
    for (let i = 0; i < n; i++) {
      counts[label[i]!]!++;
      for (let j = 0; j < d; j++) centres[label[i]! * d + j]! += X.data[i * d + j]!;
    }
    for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) centres[c * d + j]! /= Math.max(counts[c]!, 1);
    if (changed === 0) break;
  }
  const resp = new Float64Array(n * k);
  for (let i = 0; i < n; i++) resp[i * k + label[i]!] = 1;
  return resp;
}

/** A multivariate Student-t fit: location, scatter [d, d], degrees of freedom. */
export interface StudentTFit {
  mean: Float64Array;
  scatter: Float64Array;
  dof: number;
  meanLogLikelihood: number;
  bic: number;
  nParameters: number;
}

/** Multivariate Student-t by EM (ECME: dof by a 1-D root on the observed likelihood's score). */
export async function fitStudentT(X: Matrix, opts: { maxIter?: number; tol?: number } = {}): Promise<StudentTFit> {
  const n = X.rows, d = X.cols;
  const { mean, cov } = meanAndCovariance(X.data, n, d, 0);
  let scatter = cov;
  let dof = 10;
  let ll = -Infinity;
  const w = new Float64Array(n), delta = new Float64Array(n);
  for (let iter = 0; iter < (opts.maxIter ?? 200); iter++) {
    mahalanobis(X, mean, scatter, delta);
    for (let i = 0; i < n; i++) w[i] = (dof + d) / (dof + delta[i]!);
    let sw = 0;
    mean.fill(0);
    for (let i = 0; i < n; i++) { sw += w[i]!; for (let j = 0; j < d; j++) mean[j]! += w[i]! * X.data[i * d + j]!; }
    for (let j = 0; j < d; j++) mean[j]! /= sw;
    const next = new Float64Array(d * d), diff = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) diff[j] = X.data[i * d + j]! - mean[j]!;
      for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) next[a * d + b]! += w[i]! * diff[a]! * diff[b]!;
    }
    for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) { const v = next[a * d + b]! / n; next[a * d + b] = v; next[b * d + a] = v; }
    scatter = next;
    dof = bestDof(X, mean, scatter, delta);
    const newLl = meanOf(studentTLogPdf({ mean, scatter, dof }, X));
    if (Math.abs(newLl - ll) < (opts.tol ?? 1e-6)) { ll = newLl; break; }
    ll = newLl;
  }
  const nParameters = d + (d * (d + 1)) / 2 + 1;
  return { mean, scatter, dof, meanLogLikelihood: ll, bic: -2 * ll * n + nParameters * Math.log(n), nParameters };
}

/** Log density (nats) of a multivariate t at each row of X. */
export function studentTLogPdf(t: { mean: Float64Array; scatter: Float64Array; dof: number }, X: Matrix): Float64Array {
  const d = X.cols, nu = t.dof;
  const L = cholesky(t.scatter, d);
  if (!L) throw new Error('student-t scatter is singular');
  const delta = new Float64Array(X.rows);
  mahalanobis(X, t.mean, t.scatter, delta, L);
  const c = lgamma((nu + d) / 2) - lgamma(nu / 2) - (d / 2) * Math.log(nu * Math.PI) - 0.5 * logDetFromCholesky(L, d);
  const out = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) out[i] = c - ((nu + d) / 2) * Math.log1p(delta[i]! / nu);
  return out;
}

function bestDof(X: Matrix, mean: Float64Array, scatter: Float64Array, delta: Float64Array): number {
  mahalanobis(X, mean, scatter, delta);
  const d = X.cols;
  // maximise the observed log-likelihood over ln(dof) by golden section on [ln 1, ln 1000]
  const f = (logNu: number): number => {
    const nu = Math.exp(logNu);
    let s = 0;
    for (let i = 0; i < X.rows; i++) s -= ((nu + d) / 2) * Math.log1p(delta[i]! / nu);
    return s / X.rows + lgamma((nu + d) / 2) - lgamma(nu / 2) - (d / 2) * Math.log(nu);
  };
  let a = 0, b = Math.log(1000);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 60; it++) {
    const c = b - g * (b - a), e = a + g * (b - a);
    if (f(c) > f(e)) b = e; else a = c;
  }
  return Math.exp((a + b) / 2);
}

function mahalanobis(X: Matrix, mean: Float64Array, scatter: Float64Array, out: Float64Array, Lgiven?: Float64Array): void {
  const d = X.cols;
  const L = Lgiven ?? cholesky(scatter, d);
  if (!L) throw new Error('scatter is singular');
  const diff = new Float64Array(d), z = new Float64Array(d);
  for (let i = 0; i < X.rows; i++) {
    for (let j = 0; j < d; j++) diff[j] = X.data[i * d + j]! - mean[j]!;
    forwardSolve(L, d, diff, z);
    let q = 0;
    for (let j = 0; j < d; j++) q += z[j]! * z[j]!;
    out[i] = q;
  }
}

function meanOf(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

/** ln Gamma(x) for x > 0 (Lanczos, g = 7, ~1e-15 relative). */
export function lgamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
