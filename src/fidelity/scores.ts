import { createKernels, type KernelOptions } from '../stats/kernels/index.js';
import type { GmmParams } from '../stats/types.js';
import { rotateRows, transposeRotation, type Rotation } from './rope.js';

/**
 * Log expected attention ln E[exp(q.k / sqrt(d))] of every key under a query model: the
 * sample mean over given (post-RoPE) queries, or one Gaussian / a Gaussian mixture in
 * closed form. Everything stays in log space (log-sum-exp), so no exponent overflows
 * whatever the scale of q.k. Products run on the statistics kernels (onnxruntime float32
 * by default; backend 'js' is float64).
 *
 * A rotation R of the query moments is applied to the keys instead, R^T k, since
 * (R mu).k = mu.(R^T k) and k^T R S R^T k = (R^T k)^T S (R^T k): one product serves any
 * number of rotations stacked as rows.
 */

/** Post-RoPE keys of one kv head: data [n, d] row-major, float64. */
export interface KeyRows {
  data: Float64Array;
  n: number;
  d: number;
}

// queries per crossDot call: bounds the [n_keys, chunk] float64 product in memory
const QUERY_CHUNK = 2048;

/** ln( mean over the rows q of Q [nQ, d] of exp(q.k / sqrt(d)) ) for each key [nKeys]. */
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
 * The closed form of a full-covariance mixture of pre-RoPE queries, for each rotation r
 * and key k: ln sum_j pi_j exp(mu_j.(r^T k) / sqrt(d) + (r^T k)^T Sigma_j (r^T k) / (2d)),
 * then averaged over the rotations in linear space; one value per key. One rotation, the
 * mean over the future positions, is kvpress's Expected Attention.
 */
export async function mixtureLogScores(params: GmmParams, rotations: Rotation[], keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  if (params.covariance !== 'full') throw new Error('mixtureLogScores needs full covariances');
  const { n, d } = keys;
  const m = rotations.length * n;
  const moved = new Float64Array(m * d); // [rotation, key, d]: R^T k
  rotations.forEach((r, i) => moved.set(rotateRows(transposeRotation(r), keys.data, n), i * n * d));
  const kernels = createKernels(moved, m, d, { ...kernel, threads: kernel.threads ?? 1 });
  const scale = 1 / Math.sqrt(d);
  const perComponent: Float64Array[] = [];
  for (let j = 0; j < params.k; j++) {
    // one product: columns 0..d-1 = Sigma_j k (Sigma symmetric), column d = mu_j . k
    const C = new Float64Array((d + 1) * d);
    C.set(params.covariances.subarray(j * d * d, (j + 1) * d * d));
    C.set(params.means.subarray(j * d, (j + 1) * d), d * d);
    const prod = await kernels.crossDot(C, d + 1); // [m, d + 1]
    const s = new Float64Array(m);
    const logW = Math.log(params.weights[j]!);
    for (let i = 0; i < m; i++) {
      let quad = 0;
      for (let a = 0; a < d; a++) quad += prod[i * (d + 1) + a]! * moved[i * d + a]!;
      s[i] = logW + prod[i * (d + 1) + d]! * scale + quad / (2 * d);
    }
    perComponent.push(s);
  }
  // log-sum-exp over components and rotations of each key, minus ln(#rotations)
  const out = new Float64Array(n);
  const logR = Math.log(rotations.length);
  for (let k = 0; k < n; k++) {
    let mx = -Infinity;
    for (const s of perComponent) for (let r = 0; r < rotations.length; r++) mx = Math.max(mx, s[r * n + k]!);
    let sum = 0;
    for (const s of perComponent) for (let r = 0; r < rotations.length; r++) sum += Math.exp(s[r * n + k]! - mx);
    out[k] = mx + Math.log(sum) - logR;
  }
  return out;
}

/** kvpress's single-Gaussian closed form: mixtureLogScores of the one component N(mean, cov). */
export function gaussianLogScores(mean: Float64Array, cov: Float64Array, rotations: Rotation[], keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  const params: GmmParams = { k: 1, d: keys.d, covariance: 'full', weights: Float64Array.of(1), means: mean, covariances: cov };
  return mixtureLogScores(params, rotations, keys, kernel);
}
