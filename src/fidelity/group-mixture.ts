import { openEvaluation, sweepK } from '../stats/gmm.js';
import { eStep } from '../stats/gmm-em.js';
import type { KernelOptions } from '../stats/kernels/index.js';
import type { GmmFit, GmmParams } from '../stats/types.js';

/**
 * The mixture of one unit as the analysis fits it (BIC-best K on the pooled queries of the
 * kv head's group), turned into one mixture per query head: the pooled fit's
 * responsibilities split each head's own queries into the K clusters, and each cluster
 * gets that head's weight, mean and (biased) covariance. With K = 1 this is exactly the
 * head's own Gaussian, kvpress's statistics, so any difference is due to the extra modes.
 */

export interface GroupMixture {
  /** BIC-best K of the pooled fit */
  bestK: number;
  /** per query head: its mixture (components with no weight on that head dropped) */
  perHead: GmmParams[];
  /** the same from each head's rows after the first `momentsFrom` (kvpress leaves its sinks out of the statistics) */
  perHeadFrom?: GmmParams[];
}

/**
 * Fits K = 1..kMax on the pooled rows of `heads` (each [n, d]) and derives each head's
 * mixture; with `momentsFrom` also each head's mixture of its rows from that index on
 * (the same fit and responsibilities, the moments of fewer rows).
 */
export async function fitGroupMixture(heads: Float64Array[], n: number, d: number, kMax: number, seed: number, kernel: KernelOptions = {}, momentsFrom?: number): Promise<GroupMixture> {
  const pooled = new Float64Array(heads.length * n * d);
  heads.forEach((h, i) => pooled.set(h, i * n * d));
  const X = { data: pooled, rows: heads.length * n, cols: d };
  // a full covariance needs d + 1 points; more components than that cannot be fitted
  const cap = Math.max(1, Math.min(kMax, Math.floor(X.rows / (d + 1))));
  const { fits } = await sweepK(X, { kMax: cap, covariance: 'full', seed, ...kernel });
  let best: GmmFit = fits[0]!;
  for (const f of fits) if (f.bic < best.bic) best = f;
  const { comps, kernels, x } = openEvaluation(best, X, kernel);
  const { resp } = await eStep(comps, kernels, x); // [rows, k]
  const respOf = (i: number) => resp.subarray(i * n * best.k, (i + 1) * n * best.k);
  const perHead = heads.map((h, i) => headMixture(h, respOf(i), n, d, best.k));
  const from = momentsFrom ?? 0;
  const perHeadFrom = momentsFrom === undefined ? undefined
    : heads.map((h, i) => headMixture(h.subarray(from * d), respOf(i).subarray(from * best.k), n - from, d, best.k));
  return { bestK: best.k, perHead, perHeadFrom };
}

/** Weighted moments of one head's rows [n, d] under responsibilities [n, k]. */
export function headMixture(rows: Float64Array, resp: Float64Array, n: number, d: number, k: number): GmmParams {
  const weights: number[] = [], means: Float64Array[] = [], covs: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += resp[i * k + c]!;
    // a cluster this head (almost) never visits contributes nothing to its expectation
    if (total < 1e-9 * n) continue;
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const r = resp[i * k + c]!;
      for (let a = 0; a < d; a++) mean[a]! += r * rows[i * d + a]!;
    }
    for (let a = 0; a < d; a++) mean[a]! /= total;
    const cov = new Float64Array(d * d);
    const centred = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const r = resp[i * k + c]!;
      if (r === 0) continue;
      for (let a = 0; a < d; a++) centred[a] = rows[i * d + a]! - mean[a]!;
      for (let a = 0; a < d; a++) {
        const ra = r * centred[a]!;
        for (let b = 0; b <= a; b++) cov[a * d + b]! += ra * centred[b]!;
      }
    }
    for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) {
      const v = cov[a * d + b]! / total;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
    weights.push(total / n);
    means.push(mean);
    covs.push(cov);
  }
  const flat = (parts: Float64Array[]) => {
    const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  return { k: weights.length, d, covariance: 'full', weights: Float64Array.from(weights), means: flat(means), covariances: flat(covs) };
}
