import { describe, expect, it } from 'vitest';
import { averageRotation, invFreqOf, rotationAt } from '../../src/fidelity/rope.js';
import { gaussianLogScores, meanExpLogScores, mixtureLogScores, type KeyRows } from '../../src/fidelity/scores.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import { sweepK } from '../../src/stats/gmm.js';
import { meanAndCovariance } from '../../src/stats/small-linalg.js';
import { createRng } from '../../src/util/rng.js';
import type { GmmParams } from '../../src/stats/types.js';

/**
 * The closed forms against planted truth: Monte-Carlo means of exp(q.k/sqrt(d)) over many
 * draws of the planted query distribution, rotated to one future position by a dense RoPE
 * matrix built here the way kvpress builds it (R = cos I + sin P). Tolerances are in
 * units of each key's Monte-Carlo standard error of the log mean.
 */

const d = 8;
const FUTURE = 1500;
const invFreq = invFreqOf({ headDim: d, theta: 10000, scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 } });

// kvpress's rotation matrix at one position: cos on the diagonal, sin on the rotate-half permutation P
function denseRotation(position: number): Float64Array {
  const half = d / 2;
  const R = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const angle = position * invFreq[j % half]!;
    R[j * d + j] = Math.cos(angle);
    // P[half:, :half] = I, P[:half, half:] = -I; R = cos * I + sin * P (sin indexed by column)
    if (j < half) R[(j + half) * d + j] = Math.sin(angle);
    else R[(j - half) * d + j] = -Math.sin(angle);
  }
  return R;
}

function randomKeys(n: number, seed: number): KeyRows {
  const rng = createRng(seed);
  return { data: Float64Array.from({ length: n * d }, () => rng.normal()), n, d };
}

/** ln mean exp((R(p_i) q_i).k / sqrt(d)) per key (query i at positions[i % #positions]) and the standard error of that log mean, by plain loops. */
function monteCarlo(Q: Float64Array, nQ: number, keys: KeyRows, positions = [FUTURE]): { logMean: Float64Array; se: Float64Array } {
  const Rs = positions.map(denseRotation);
  const rotated = new Float64Array(nQ * d);
  for (let i = 0; i < nQ; i++) for (let a = 0; a < d; a++) {
    const R = Rs[i % Rs.length]!;
    let s = 0;
    for (let b = 0; b < d; b++) s += R[a * d + b]! * Q[i * d + b]!;
    rotated[i * d + a] = s;
  }
  const logMean = new Float64Array(keys.n), se = new Float64Array(keys.n);
  for (let k = 0; k < keys.n; k++) {
    let m = 0, m2 = 0;
    for (let i = 0; i < nQ; i++) {
      let dot = 0;
      for (let a = 0; a < d; a++) dot += rotated[i * d + a]! * keys.data[k * d + a]!;
      const e = Math.exp(dot / Math.sqrt(d));
      m += e; m2 += e * e;
    }
    m /= nQ; m2 /= nQ;
    logMean[k] = Math.log(m);
    se[k] = Math.sqrt((m2 - m * m) / nQ) / m; // delta method: sd of ln(mean) = relative sd of the mean
  }
  return { logMean, se };
}

function maxStandardisedError(pred: Float64Array, mc: { logMean: Float64Array; se: Float64Array }): number {
  let worst = 0;
  for (let k = 0; k < pred.length; k++) worst = Math.max(worst, Math.abs(pred[k]! - mc.logMean[k]!) / mc.se[k]!);
  return worst;
}

function maxAbsError(pred: Float64Array, ref: Float64Array): number {
  let worst = 0;
  for (let k = 0; k < pred.length; k++) worst = Math.max(worst, Math.abs(pred[k]! - ref[k]!));
  return worst;
}

const N = 100_000;

describe('expected attention in closed form vs Monte Carlo', () => {
  it('one Gaussian: kvpress closed form = MC mean within 5 standard errors', async () => {
    const p = plantedMixture({ k: 1, d, separation: 0, seed: 3 });
    p.means.forEach((_, i) => { p.means[i] = 0.5 * Math.sin(i + 1); });
    const { X } = sampleGmm(p, N, 11);
    const keys = randomKeys(24, 5);
    const mc = monteCarlo(X.data as Float64Array, N, keys);
    const closed = await gaussianLogScores(p.means, p.covariances, [rotationAt(invFreq, FUTURE)], keys, { backend: 'js' });
    expect(maxStandardisedError(closed, mc)).toBeLessThan(5);
    // the default onnxruntime float32 kernels agree to float32 accuracy
    expect(maxAbsError(await gaussianLogScores(p.means, p.covariances, [rotationAt(invFreq, FUTURE)], keys), closed)).toBeLessThan(1e-4);
  });

  it('planted mixture: the mixture closed form matches MC, the moment-matched single Gaussian does not', async () => {
    const p: GmmParams = plantedMixture({ k: 3, d, separation: 6, seed: 21 });
    const { X } = sampleGmm(p, N, 12);
    const keys = randomKeys(24, 6);
    const rot = [rotationAt(invFreq, FUTURE)];
    const mc = monteCarlo(X.data as Float64Array, N, keys);
    expect(maxStandardisedError(await mixtureLogScores(p, rot, keys, { backend: 'js' }), mc)).toBeLessThan(5);
    // kvpress's estimate from the same queries: their mean and (biased) covariance
    const { mean, cov } = meanAndCovariance(X.data, N, d, 0);
    const gauss = await gaussianLogScores(mean, cov, rot, keys, { backend: 'js' });
    expect(maxStandardisedError(gauss, mc)).toBeGreaterThan(10);
    expect(maxAbsError(gauss, mc.logMean)).toBeGreaterThan(0.3);
  });

  it('a BIC-fitted mixture on seen queries predicts the MC mean far better than the fitted single Gaussian', async () => {
    const p = plantedMixture({ k: 3, d, separation: 6, seed: 21 });
    const seen = sampleGmm(p, 20_000, 13).X;
    const { fits, bestK } = await sweepK(seen, { kMax: 5, seed: 0, backend: 'js' });
    expect(bestK).toBe(3);
    const keys = randomKeys(24, 6);
    const rot = [rotationAt(invFreq, FUTURE)];
    const mc = monteCarlo(sampleGmm(p, N, 14).X.data as Float64Array, N, keys);
    const mixErr = maxAbsError(await mixtureLogScores(fits[bestK - 1]!, rot, keys), mc.logMean);
    const { mean, cov } = meanAndCovariance(seen.data, seen.rows, d, 0);
    const gaussErr = maxAbsError(await gaussianLogScores(mean, cov, rot, keys), mc.logMean);
    // fitted parameters carry estimation error (~1/sqrt(20000) per coordinate): 0.1 nats is generous
    expect(mixErr).toBeLessThan(0.1);
    expect(gaussErr).toBeGreaterThan(3 * mixErr);
  });

  it('several future positions: the closed form averaged over per-position rotations matches MC; the averaged rotation (kvpress) does not', async () => {
    const p = plantedMixture({ k: 1, d, separation: 0, seed: 3 });
    p.means.forEach((_, i) => { p.means[i] = 1.5 * Math.cos(i); });
    const positions = [1000, 1400, 1800, 2200, 2600, 3000, 3400, 3800];
    const { X } = sampleGmm(p, N, 15);
    const keys = randomKeys(24, 7);
    const mc = monteCarlo(X.data as Float64Array, N, keys, positions);
    const rotations = positions.map((q) => rotationAt(invFreq, q));
    const perPosition = await gaussianLogScores(p.means, p.covariances, rotations, keys, { backend: 'js' });
    expect(maxStandardisedError(perPosition, mc)).toBeLessThan(5);
    const averaged = await gaussianLogScores(p.means, p.covariances, [averageRotation(invFreq, positions)], keys, { backend: 'js' });
    expect(maxAbsError(averaged, mc.logMean)).toBeGreaterThan(0.1);
  });

  it('meanExpLogScores (onnxruntime float32 and js float64) equals the plain-loop MC log mean', async () => {
    const p = plantedMixture({ k: 2, d, separation: 4, seed: 2 });
    const Q = sampleGmm(p, 5000, 9).X.data as Float64Array;
    const keys = randomKeys(40, 8);
    const R = denseRotation(FUTURE);
    const rotated = new Float64Array(Q.length);
    for (let i = 0; i < 5000; i++) for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += R[a * d + b]! * Q[i * d + b]!;
      rotated[i * d + a] = s;
    }
    const ref = monteCarlo(Q, 5000, keys).logMean;
    expect(maxAbsError(await meanExpLogScores(rotated, 5000, keys, { backend: 'js' }), ref)).toBeLessThan(1e-10);
    // float32 products: |q.k| ~ 10 at 6e-8 relative
    expect(maxAbsError(await meanExpLogScores(rotated, 5000, keys), ref)).toBeLessThan(1e-4);
  });
});
