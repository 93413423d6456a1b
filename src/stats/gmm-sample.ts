/**
 * Draws from known mixtures: planted ground truth for the tests and the benchmark, and a
 * way for the analysis to simulate calibrated nulls. All randomness comes from createRng.
 */
import { createRng, type Rng } from '../util/rng.js';
import { choleskyLower } from './linalg.js';
import type { GmmParams, Matrix } from './types.js';

export interface PlantedMixtureOptions {
  k: number;
  d: number;
  /** expected distance between two component means, in units of the average within-component std */
  separation: number;
  /** log-normal spread of per-dimension scales (0: all dimensions alike); default 0.5 */
  anisotropy?: number;
  /** component weights (normalised here); default equal */
  weights?: number[];
  seed: number;
}

/** A random full-covariance mixture: means N(0, sep^2/(2d) I), covariances D A A^T D / (2d) with A [d, 2d] normal. */
export function plantedMixture(opts: PlantedMixtureOptions): GmmParams {
  const { k, d, separation } = opts;
  const rng = createRng(opts.seed);
  const aniso = opts.anisotropy ?? 0.5;
  const w = opts.weights ?? Array(k).fill(1);
  const wsum = w.reduce((a, b) => a + b, 0);
  const means = new Float64Array(k * d);
  for (let t = 0; t < k * d; t++) means[t] = (rng.normal() * separation) / Math.sqrt(2 * d);
  const covariances = new Float64Array(k * d * d);
  const m = 2 * d;
  const A = new Float64Array(d * m);
  for (let c = 0; c < k; c++) {
    const scale = Array.from({ length: d }, () => Math.exp(aniso * rng.normal()));
    for (let t = 0; t < d * m; t++) A[t] = rng.normal();
    const o = c * d * d;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let t = 0; t < m; t++) s += A[i * m + t] * A[j * m + t];
        const v = (s / m) * scale[i] * scale[j];
        covariances[o + i * d + j] = v;
        covariances[o + j * d + i] = v;
      }
    }
  }
  return { k, d, covariance: 'full', weights: Float64Array.from(w, (x) => x / wsum), means, covariances };
}

/** n rows from a mixture (full or diag), with the component of each row; float32 or float64 output. */
export function sampleGmm(p: GmmParams, n: number, seed: number, dtype: 'float32' | 'float64' = 'float64'): { X: Matrix; labels: Int32Array } {
  const rng = createRng(seed);
  const { k, d } = p;
  const factors: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    if (p.covariance === 'full') {
      const L = choleskyLower(p.covariances.subarray(c * d * d, (c + 1) * d * d), d);
      if (!L) throw new Error(`component ${c} covariance is not positive definite`);
      factors.push(L);
    } else {
      factors.push(p.covariances.subarray(c * d, (c + 1) * d).map(Math.sqrt));
    }
  }
  const data = dtype === 'float32' ? new Float32Array(n * d) : new Float64Array(n * d);
  const labels = new Int32Array(n);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = pickComponent(p.weights, rng);
    labels[i] = c;
    for (let j = 0; j < d; j++) z[j] = rng.normal();
    const L = factors[c];
    for (let a = 0; a < d; a++) {
      let s = p.means[c * d + a];
      if (p.covariance === 'full') for (let b = 0; b <= a; b++) s += L[a * d + b] * z[b];
      else s += L[a] * z[a];
      data[i * d + a] = s;
    }
  }
  return { X: { data, rows: n, cols: d }, labels };
}

/** n rows of a multivariate Student t: mean + L z / sqrt(g / dof), g ~ chi^2(dof), L L^T = scatter. */
export function sampleStudentT(mean: Float64Array, scatter: Float64Array, dof: number, n: number, seed: number): Matrix {
  const rng = createRng(seed);
  const d = mean.length;
  const L = choleskyLower(scatter, d);
  if (!L) throw new Error('scatter is not positive definite');
  const data = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const s = Math.sqrt(dof / gammaSample(dof / 2, rng) / 2);
    for (let j = 0; j < d; j++) z[j] = rng.normal();
    for (let a = 0; a < d; a++) {
      let v = 0;
      for (let b = 0; b <= a; b++) v += L[a * d + b] * z[b];
      data[i * d + a] = mean[a] + s * v;
    }
  }
  return { data, rows: n, cols: d };
}

function pickComponent(weights: Float64Array, rng: Rng): number {
  let u = rng.next();
  for (let c = 0; c < weights.length - 1; c++) {
    u -= weights[c];
    if (u < 0) return c;
  }
  return weights.length - 1;
}

/** Gamma(shape, 1) by Marsaglia-Tsang (boosted for shape < 1). */
function gammaSample(shape: number, rng: Rng): number {
  if (shape < 1) return gammaSample(shape + 1, rng) * Math.pow(rng.next() || Number.MIN_VALUE, 1 / shape);
  const dd = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * dd);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4) return dd * v;
    if (Math.log(u) < 0.5 * x * x + dd * (1 - v + Math.log(v))) return dd * v;
  }
}
