import { createKernels, type KernelOptions } from '../stats/kernels/index.js';
import type { GmmParams } from '../stats/types.js';
import { rotateCovariance, rotateVector, type Rotation } from './rope.js';

/**
 * Log expected attention ln E[exp(q.k / sqrt(d))] of every key under a query model: the
 * sample mean over given (post-RoPE) queries, one Gaussian in closed form (kvpress), or a
 * Gaussian mixture in closed form. Everything stays in log space (log-sum-exp), so no
 * exponent overflows whatever the scale of q.k.
 */

/** Post-RoPE keys of one kv head: data [n, d] row-major, float64. */
export interface KeyRows {
  data: Float64Array;
  n: number;
  d: number;
}

// queries per crossDot call: bounds the [n_keys, chunk] float64 product in memory
const QUERY_CHUNK = 2048;

/**
 * ln( mean over the rows q of Q [nQ, d] of exp(q.k / sqrt(d)) ) for each key [nKeys];
 * the products run on the statistics kernels (onnxruntime by default, 'js' for float64).
 */
export async function meanExpLogScores(Q: Float64Array, nQ: number, keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  const { n, d } = keys;
  const scale = 1 / Math.sqrt(d);
  const runMax = new Float64Array(n).fill(-Infinity);
  const runSum = new Float64Array(n); // sum of exp(score - runMax)
  const kernels = createKernels(keys.data, n, d, { ...kernel, threads: kernel.threads ?? 1 });
  for (let start = 0; start < nQ; start += QUERY_CHUNK) {
    const m = Math.min(QUERY_CHUNK, nQ - start);
    const dots = await kernels.crossDot(Q.subarray(start * d, (start + m) * d), m); // [n, m]
    for (let i = 0; i < n; i++) {
      const row = i * m;
      let mx = -Infinity;
      for (let j = 0; j < m; j++) mx = Math.max(mx, dots[row + j]! * scale);
      const top = Math.max(mx, runMax[i]!);
      let s = runSum[i]! * Math.exp(runMax[i]! - top);
      for (let j = 0; j < m; j++) s += Math.exp(dots[row + j]! * scale - top);
      runMax[i] = top;
      runSum[i] = s;
    }
  }
  const out = new Float64Array(n);
  const logN = Math.log(nQ);
  for (let i = 0; i < n; i++) out[i] = runMax[i]! + Math.log(runSum[i]!) - logN;
  return out;
}

/**
 * kvpress's closed form for queries ~ N(mean, cov) before RoPE, moved by the rotation R
 * (the average over future positions): mu.k / sqrt(d) + k^T Sigma k / (2d) with
 * mu = R mean, Sigma = R cov R^T; one value per key.
 */
export function gaussianLogScores(mean: Float64Array, cov: Float64Array, rotation: Rotation, keys: KeyRows): Float64Array {
  const { n, d } = keys;
  const mu = rotateVector(rotation, mean, new Float64Array(d));
  const sigma = rotateCovariance(rotation, cov);
  const out = new Float64Array(n);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let linear = 0, quad = 0;
    for (let a = 0; a < d; a++) {
      const ka = keys.data[o + a]!;
      linear += mu[a]! * ka;
      let sk = 0;
      const row = a * d;
      for (let b = 0; b < d; b++) sk += sigma[row + b]! * keys.data[o + b]!;
      quad += ka * sk;
    }
    out[i] = linear * scale + quad / (2 * d);
  }
  return out;
}

/** The closed form for a full-covariance mixture: ln sum_j pi_j exp(gaussian score of component j), per key. */
export function mixtureLogScores(params: GmmParams, rotation: Rotation, keys: KeyRows): Float64Array {
  if (params.covariance !== 'full') throw new Error('mixtureLogScores needs full covariances');
  const { d } = keys;
  const perComponent: Float64Array[] = [];
  for (let j = 0; j < params.k; j++) {
    const s = gaussianLogScores(params.means.subarray(j * d, (j + 1) * d), params.covariances.subarray(j * d * d, (j + 1) * d * d), rotation, keys);
    const logW = Math.log(params.weights[j]!);
    for (let i = 0; i < s.length; i++) s[i]! += logW;
    perComponent.push(s);
  }
  const out = new Float64Array(keys.n);
  for (let i = 0; i < keys.n; i++) {
    let mx = -Infinity;
    for (const s of perComponent) mx = Math.max(mx, s[i]!);
    let sum = 0;
    for (const s of perComponent) sum += Math.exp(s[i]! - mx);
    out[i] = mx + Math.log(sum);
  }
  return out;
}
