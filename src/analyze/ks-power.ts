import type { GmmParams, Matrix } from '../stats/types.js';
import { directionalPitTest, pitDirections } from '../stats/pit.js';
import { createKernels } from '../stats/kernels/index.js';
import { createRng, type Rng } from '../util/rng.js';

/**
 * The KS test's behaviour at the corpus's own sample size and dimension, on planted data:
 * the pass rate of a correct Gaussian fit (calibration) and the rejection rate of a Gaussian
 * fit to Student-t and to three-cluster data (power). The fits are the closed-form Gaussian
 * MLE, as EM's K=1 fit.
 */
export interface PowerRow {
  scenario: string;
  /** % of draws where the fit PASSES (calibration) or is REJECTED (power) at alpha */
  pct: number;
  kind: 'pass' | 'reject';
  draws: number;
}

/** What the table depends on, and nothing else (the cache key). */
export interface PowerParams {
  nTrain: number;
  nTest: number;
  d: number;
  alpha: number;
  draws: number;
  seed: number;
}

/**
 * Bumped whenever a change would alter the table for the same parameters (scenarios, random
 * stream, test): cached tables of another version are recomputed, never reused.
 */
export const KS_POWER_VERSION = 1;

/** Runs `draws` draws of each planted scenario at n_train / n_test / d (threads: onnxruntime threads for the covariances). */
export async function ksPowerTable(nTrain: number, nTest: number, d: number, alpha: number, draws: number, seed = 0, threads?: number): Promise<PowerRow[]> {
  const rng = createRng(seed);
  const scenarios: Array<{ scenario: string; kind: 'pass' | 'reject'; gen: (n: number) => Float64Array }> = [
    { scenario: 'Gaussian data, K=1 fit (correct)', kind: 'pass', gen: (n) => gaussian(rng, n, d) },
    { scenario: 'Student-t(5) data, K=1 fit', kind: 'reject', gen: (n) => studentT(rng, n, d, 5) },
    { scenario: 'Student-t(10) data, K=1 fit', kind: 'reject', gen: (n) => studentT(rng, n, d, 10) },
    { scenario: '3 clusters 8 sd apart, K=1 fit', kind: 'reject', gen: (n) => clusters(rng, n, d, 8) },
    { scenario: '3 clusters 25 sd apart, K=1 fit', kind: 'reject', gen: (n) => clusters(rng, n, d, 25) },
  ];
  const ones = new Float64Array(nTrain).fill(1);
  const rows: PowerRow[] = [];
  for (const { scenario, kind, gen } of scenarios) {
    let hits = 0;
    for (let r = 0; r < draws; r++) {
      const trainData = gen(nTrain);
      const test: Matrix = { data: gen(nTest), rows: nTest, cols: d };
      // the n x d x d covariance is the costly step (JS took ~80 ms a draw at 3277 x 128): float64 onnxruntime
      const { means: mean, scatter: cov } = await createKernels(trainData, nTrain, d, { precision: 'float64', threads }).weightedMoments(ones, Float64Array.of(nTrain), 1);
      for (let t = 0; t < cov.length; t++) cov[t]! /= nTrain;
      const fit: GmmParams = { k: 1, d, covariance: 'full', weights: Float64Array.of(1), means: mean, covariances: cov };
      const p = directionalPitTest(fit, test, nTrain, pitDirections(fit, 16, seed + r)).pValue;
      if ((p >= alpha) === (kind === 'pass')) hits++;
    }
    rows.push({ scenario, kind, pct: (100 * hits) / draws, draws });
  }
  return rows;
}

function gaussian(rng: Rng, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

function studentT(rng: Rng, n: number, d: number, dof: number): Float64Array {
  const out = gaussian(rng, n, d);
  for (let i = 0; i < n; i++) {
    let chi2 = 0;
    for (let t = 0; t < dof; t++) { const g = rng.normal(); chi2 += g * g; }
    const s = Math.sqrt(dof / chi2);
    for (let j = 0; j < d; j++) out[i * d + j]! *= s;
  }
  return out;
}

/** Three equal clusters with identity covariance, means -sep, 0, +sep (in sd) along the diagonal direction. */
function clusters(rng: Rng, n: number, d: number, sep: number): Float64Array {
  const out = gaussian(rng, n, d);
  const step = sep / Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    const c = rng.int(3) - 1;
    for (let j = 0; j < d; j++) out[i * d + j]! += c * step;
  }
  return out;
}
