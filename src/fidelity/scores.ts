import { createKernels, type DataKernels, type KernelOptions } from '../stats/kernels/index.js';
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

// queries per call: bounds the [n_keys, chunk] product inside the backend
const QUERY_CHUNK = 8192;

/** ln( mean over the rows q of Q [nQ, d] of exp(q.k / sqrt(d)) ) for each key [nKeys]. */
export async function meanExpLogScores(Q: Float64Array, nQ: number, keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  const { n, d } = keys;
  const kernels = createKernels(keys.data, n, d, { ...kernel, threads: kernel.threads ?? 1 });
  let acc: Float64Array | undefined;
  for (let start = 0; start < nQ; start += QUERY_CHUNK) {
    const m = Math.min(QUERY_CHUNK, nQ - start);
    const part = await kernels.logSumExpDot(Q.subarray(start * d, (start + m) * d), m, 1 / Math.sqrt(d));
    if (!acc) acc = part;
    else for (let i = 0; i < n; i++) acc[i] = logAddExp(acc[i]!, part[i]!);
  }
  const logN = Math.log(nQ);
  return acc!.map((v) => v - logN);
}

function logAddExp(a: number, b: number): number {
  const mx = Math.max(a, b);
  return mx === -Infinity ? mx : mx + Math.log(Math.exp(a - mx) + Math.exp(b - mx));
}

/** Keys moved by the transpose of each of some rotations, [rotation, key, d], bound to the kernels once for every query model scored on them. */
export interface RotatedKeys {
  kernels: DataKernels;
  /** keys per rotation */
  n: number;
  d: number;
  rotations: number;
}

/** R^T k for every rotation R and key k (a unit's keys serve every head of its group). */
export function rotateKeys(rotations: Rotation[], keys: KeyRows, kernel: KernelOptions = {}): RotatedKeys {
  const { n, d } = keys;
  const moved = new Float64Array(rotations.length * n * d);
  rotations.forEach((r, i) => moved.set(rotateRows(transposeRotation(r), keys.data, n), i * n * d));
  return { kernels: createKernels(moved, rotations.length * n, d, { ...kernel, threads: kernel.threads ?? 1 }), n, d, rotations: rotations.length };
}

// bounds the [rows, components x d] product inside the backend to ~16M values
const PRODUCT_BUDGET = 1 << 24;

/**
 * The closed form of a full-covariance mixture of pre-RoPE queries, for each rotation r
 * and key k: ln sum_j pi_j exp(mu_j.(r^T k) / sqrt(d) + (r^T k)^T Sigma_j (r^T k) / (2d)),
 * then averaged over the rotations in linear space; one value per key. One rotation, the
 * mean over the future positions, is kvpress's Expected Attention.
 */
export async function mixtureLogScores(params: GmmParams, rotations: Rotation[] | RotatedKeys, keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  if (params.covariance !== 'full') throw new Error('mixtureLogScores needs full covariances');
  const rk = Array.isArray(rotations) ? rotateKeys(rotations, keys, kernel) : rotations;
  const { n, d } = rk;
  const m = rk.rotations * n;
  const perChunk = Math.max(1, Math.floor(PRODUCT_BUDGET / (m * d)));
  const logits: Float64Array[] = []; // per component [m]
  for (let j0 = 0; j0 < params.k; j0 += perChunk) {
    const kc = Math.min(perChunk, params.k - j0);
    const out = await rk.kernels.gaussianLogits(params.means.subarray(j0 * d, (j0 + kc) * d), params.covariances.subarray(j0 * d * d, (j0 + kc) * d * d), kc, 1 / Math.sqrt(d), 1 / (2 * d));
    for (let c = 0; c < kc; c++) {
      const logW = Math.log(params.weights[j0 + c]!);
      logits.push(Float64Array.from({ length: m }, (_, i) => logW + out[i * kc + c]!));
    }
  }
  // log-sum-exp over components and rotations of each key, minus ln(#rotations)
  const out = new Float64Array(n);
  const logR = Math.log(rk.rotations);
  for (let k = 0; k < n; k++) {
    let mx = -Infinity;
    for (const s of logits) for (let r = 0; r < rk.rotations; r++) mx = Math.max(mx, s[r * n + k]!);
    let sum = 0;
    for (const s of logits) for (let r = 0; r < rk.rotations; r++) sum += Math.exp(s[r * n + k]! - mx);
    out[k] = mx + Math.log(sum) - logR;
  }
  return out;
}

/** kvpress's single-Gaussian closed form: mixtureLogScores of the one component N(mean, cov). */
export function gaussianLogScores(mean: Float64Array, cov: Float64Array, rotations: Rotation[] | RotatedKeys, keys: KeyRows, kernel: KernelOptions = {}): Promise<Float64Array> {
  const params: GmmParams = { k: 1, d: keys.d, covariance: 'full', weights: Float64Array.of(1), means: mean, covariances: cov };
  return mixtureLogScores(params, rotations, keys, kernel);
}
