/**
 * Gaussian-mixture fitting with scikit-learn's semantics (k-means++-seeded k-means init,
 * one M-step from the hard labels, EM until the mean log-likelihood per sample changes by
 * less than tol, reg_covar on the diagonal, BIC = -2 total LL + p ln n) on fast kernels.
 * The initialisation draws from numpy's RandomState(seed) exactly as scikit-learn does, so
 * `seed: s` starts where `GaussianMixture(random_state=s)` starts (an integer seed is taken
 * mod 2^32; others are hashed).
 *
 * reg_covar is scaled to the data: the value added to every covariance diagonal is
 * regCovar x (mean over dimensions of the per-dimension variance of X), reported as
 * `regCovarAbsolute`; pass that absolute value to scikit-learn to reproduce a fit.
 * Data are centred on their column means (float64) before the float32 kernels see them.
 */
import os from 'node:os';
import { NumpyRandomState } from '../util/numpy-random.js';
import { seedFrom } from '../util/rng.js';
import { createKernels, type DataKernels, type KernelOptions } from './kernels/index.js';
import { eStep, factorize, mStep, parameterCount, type Components } from './gmm-em.js';
import { GmmDataError, prepareData, type PreparedData } from './gmm-data.js';
import { kmeans } from './kmeans.js';
import { fitKsOnWorkers, sweepWorkersAvailable } from './sweep-pool.js';
import type { GmmFit, GmmOptions, GmmParams, Matrix } from './types.js';

export { GmmDataError, type GmmDataProblem } from './gmm-data.js';
export type { KernelOptions, KernelBackend, KernelPrecision } from './kernels/index.js';
export type { CovarianceType, GmmFit, GmmOptions, GmmParams, Matrix } from './types.js';

export interface GmmFitOptions extends GmmOptions, KernelOptions {
  /** a component with fewer effective points is dropped (warning); default d + 1 (full), 2 (diag) */
  minPointsPerComponent?: number;
}

export interface SweepOptions extends Omit<GmmFitOptions, 'k' | 'init'> {
  kMax: number;
  kMin?: number; // default 1
  init?: 'kmeans' | 'random';
  /**
   * worker threads that fit different K at once, each with threads / workers onnxruntime
   * threads; default `threads` (all cores). 1 fits the K values one after another in this
   * thread. The fits are the same either way: each K is seeded on its own.
   */
  workers?: number;
}

export interface SweepResult {
  /** fits[i] is K = kMin + i */
  fits: GmmFit[];
  /** components of the lowest-BIC fit (its k: fewer than requested if some collapsed) */
  bestK: number;
  /** the lowest-BIC fit itself */
  best: GmmFit;
  /** seconds spent in the whole sweep */
  seconds: number;
}

/** One unit's prepared data with its kernels: what every K of a sweep shares. */
export interface FitContext {
  data: PreparedData;
  kernels: DataKernels;
  reg: number;
}

/** The fitting context for data that prepareData already checked and centred. */
export function contextFromPrepared(data: PreparedData, opts: Omit<GmmFitOptions, 'k'>): FitContext {
  const reg = (opts.regCovar ?? 1e-6) * data.varianceScale;
  const kernels = createKernels(data.centered, data.n, data.d, opts);
  return { data, kernels, reg };
}

function openContext(X: Matrix, opts: Omit<GmmFitOptions, 'k'>): FitContext {
  return contextFromPrepared(prepareData(X, 2), opts);
}

/** Fits one mixture with k components; throws GmmDataError for data that cannot be fitted. */
export async function fitGmm(X: Matrix, opts: GmmFitOptions): Promise<GmmFit> {
  return fitInContext(openContext(X, opts), opts);
}

/** Fits K = kMin..kMax on the same data (shared preparation and kernels) and picks the lowest BIC. */
export async function sweepK(X: Matrix, opts: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const kMin = opts.kMin ?? 1;
  if (!(Number.isInteger(kMin) && Number.isInteger(opts.kMax) && kMin >= 1 && opts.kMax >= kMin)) {
    throw new GmmDataError('bad-parameters', `need integers 1 <= kMin <= kMax, got kMin ${kMin}, kMax ${opts.kMax}`);
  }
  const ks = Array.from({ length: opts.kMax - kMin + 1 }, (_, i) => kMin + i);
  const cores = Math.max(1, opts.threads ?? os.availableParallelism());
  const workers = Math.min(Math.max(1, Math.floor(opts.workers ?? cores)), ks.length);
  let fits: GmmFit[];
  if (workers > 1 && sweepWorkersAvailable()) {
    const data = prepareData(X, 2);
    const { workers: _w, kMax: _kMax, kMin: _kMin, ...fitOpts } = opts;
    fits = await fitKsOnWorkers(data, { ...fitOpts, threads: Math.max(1, Math.floor(cores / workers)) }, ks, workers);
  } else {
    const ctx = openContext(X, opts);
    fits = [];
    for (const k of ks) fits.push(await fitInContext(ctx, { ...opts, k }));
  }
  let best = fits[0];
  for (const f of fits) if (f.bic < best.bic) best = f;
  return { fits, bestK: best.k, best, seconds: (performance.now() - started) / 1000 };
}

/** Fits one K in a prepared context (shared by the sweep in this thread and its workers). */
export async function fitInContext(ctx: FitContext, opts: GmmFitOptions): Promise<GmmFit> {
  const { data, kernels, reg } = ctx;
  const { n, d } = data;
  const k = opts.k;
  const covariance = opts.covariance ?? 'full';
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-3;
  const nInit = opts.nInit ?? 1;
  const init = opts.init ?? 'kmeans';
  const minPoints = opts.minPointsPerComponent ?? (covariance === 'full' ? d + 1 : 2);
  if (!(Number.isInteger(k) && k >= 1)) throw new GmmDataError('bad-parameters', `k must be a positive integer, got ${k}`);
  if (k > n) throw new GmmDataError('too-few-samples', `cannot fit ${k} components to ${n} rows`);

  let best: { comps: Components; lowerBound: number; nIter: number; converged: boolean; warnings: string[] } | undefined;
  // one generator per fit, drawn from by every init in turn: scikit-learn's
  // GaussianMixture(random_state=seed) makes the same draws, so both start from the same centres
  const seed = opts.seed ?? 0;
  const rng = new NumpyRandomState(Number.isInteger(seed) ? seed >>> 0 : seedFrom(seed));
  for (let run = 0; run < nInit; run++) {
    const warnings: string[] = [];
    let comps: Components;
    if (typeof init === 'object') {
      comps = componentsFromParams(init, data, covariance);
    } else {
      const resp = new Float64Array(n * k);
      if (init === 'kmeans') {
        const { labels } = await kmeans(data.centered, kernels, k, rng);
        for (let i = 0; i < n; i++) resp[i * k + labels[i]] = 1;
      } else {
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < k; c++) s += resp[i * k + c] = rng.next();
          for (let c = 0; c < k; c++) resp[i * k + c] /= s;
        }
      }
      const m = await guarded(mStep(resp, k, covariance, kernels, data.centered, reg, minPoints));
      comps = m.comps;
      warnings.push(...m.warnings);
    }
    let lowerBound = -Infinity;
    let converged = false;
    let nIter = 0;
    for (let it = 1; it <= maxIter; it++) {
      nIter = it;
      const prev = lowerBound;
      const e = await eStep(comps, kernels, data.centered);
      const m = await guarded(mStep(e.resp, comps.k, covariance, kernels, data.centered, reg, minPoints));
      if (m.warnings.length) warnings.push(...m.warnings.map((w) => `iteration ${it}: ${w}`));
      comps = m.comps;
      lowerBound = e.meanLogLikelihood;
      if (Math.abs(lowerBound - prev) < tol) {
        converged = true;
        break;
      }
    }
    if (!best || lowerBound > best.lowerBound) best = { comps, lowerBound, nIter, converged, warnings };
  }
  if (!best) throw new GmmDataError('bad-parameters', `nInit must be at least 1, got ${nInit}`);
  const final = await eStep(best.comps, kernels, data.centered);
  const { comps } = best;
  const means = comps.means.slice();
  for (let c = 0; c < comps.k; c++) for (let j = 0; j < d; j++) means[c * d + j] += data.mean[j];
  const nParameters = parameterCount(covariance, comps.k, d);
  return {
    k: comps.k,
    d,
    covariance,
    weights: comps.weights,
    means,
    covariances: comps.covariances,
    precisionsCholesky: comps.precChol,
    meanLogLikelihood: final.meanLogLikelihood,
    lowerBound: best.lowerBound,
    nIter: best.nIter,
    converged: best.converged,
    bic: -2 * final.meanLogLikelihood * n + nParameters * Math.log(n),
    nParameters,
    warnings: best.warnings,
    kRequested: k,
    regCovarAbsolute: reg,
  };
}

/** Collapse of every component is a property of the unit's data: report it as GmmDataError. */
async function guarded<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof GmmDataError) throw err;
    throw new GmmDataError('singular', (err as Error).message);
  }
}

function componentsFromParams(p: GmmParams, data: PreparedData | { d: number; mean: Float64Array }, covariance = p.covariance): Components {
  const { d } = data;
  const k = p.k;
  const covLen = covariance === 'full' ? k * d * d : k * d;
  if (p.d !== d || p.covariance !== covariance || p.weights.length !== k || p.means.length !== k * d || p.covariances.length !== covLen) {
    throw new GmmDataError('bad-parameters', `mixture parameters (k ${k}, d ${p.d}, ${p.covariance}) do not match data with d ${d} and ${covariance} covariance`);
  }
  let wsum = 0;
  for (const w of p.weights) {
    if (!(w > 0)) throw new GmmDataError('bad-parameters', `mixture weights must be positive, got ${w}`);
    wsum += w;
  }
  const means = p.means.slice();
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) means[c * d + j] -= data.mean[j];
  const { comps, failed } = factorize(covariance, k, d, p.weights.map((w) => w / wsum), means, p.covariances.slice());
  if (failed.length) throw new GmmDataError('bad-parameters', `covariance of component ${failed[0] + 1} is not positive definite`);
  return comps;
}

/** The mixture's weighted mean: the centring point for evaluating at new data. */
function mixtureCentre(p: GmmParams): Float64Array {
  const c = new Float64Array(p.d);
  let wsum = 0;
  for (let k = 0; k < p.k; k++) {
    wsum += p.weights[k];
    for (let j = 0; j < p.d; j++) c[j] += p.weights[k] * p.means[k * p.d + j];
  }
  return c.map((v) => v / wsum);
}

/** Rows of X centred on `centre`, float64; throws GmmDataError on non-finite values or a width mismatch. */
export function centreRows(X: Matrix, centre: Float64Array): Float64Array {
  const { rows: n, cols: d, data } = X;
  if (d !== centre.length || data.length !== n * d) throw new GmmDataError('bad-shape', `data is ${n} x ${d} (${data.length} values), the model has d ${centre.length}`);
  const out = new Float64Array(n * d);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new GmmDataError('non-finite', `data has a non-finite value (${v}) at row ${Math.floor(i / d)}, column ${i % d}`);
    out[i] = v - centre[i % d];
  }
  return out;
}

/** Parameters and kernels for evaluating a mixture on new rows (shared by the log-pdf and the conditional CDFs). */
export function openEvaluation(params: GmmParams, X: Matrix, opts: KernelOptions = {}): { comps: Components; kernels: DataKernels; x: Float64Array } {
  const centre = mixtureCentre(params);
  const x = centreRows(X, centre);
  const comps = componentsFromParams(params, { d: params.d, mean: centre });
  return { comps, kernels: createKernels(x, X.rows, X.cols, opts), x };
}

/** Log density of the mixture at each row of X (nats), [n]; X has the model's d columns. */
export async function gmmLogPdf(params: GmmParams, X: Matrix, opts: KernelOptions = {}): Promise<Float64Array> {
  if (X.rows === 0) return new Float64Array(0);
  const { comps, kernels, x } = openEvaluation(params, X, opts);
  return (await eStep(comps, kernels, x)).logDensity;
}
