import { describe, expect, it } from 'vitest';
import { fidelityUnit, type FidelitySettings } from '../../src/fidelity/unit.js';
import { invFreqOf, rotateRowsToPositions } from '../../src/fidelity/rope.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import { createRng } from '../../src/util/rng.js';

/**
 * One unit on planted queries: when the group's queries are one Gaussian the mixture is
 * kvpress's prediction exactly; when they are a 3-mixture, the mixture's closed form gets
 * the scale of the true attention right and the single Gaussian's does not.
 */

const D = 16, T = 1024, G = 2;
const invFreq = invFreqOf({ headDim: D, theta: 10000, scaling: null });
const positions = Int32Array.from({ length: T }, (_, i) => 16 + i);
const settings: FidelitySettings = { future: 0.2, keep: [0.1, 0.5], ratios: [], kMax: 5, seed: 0, invFreq };

function unitInput(k: number, seed: number) {
  const params = plantedMixture({ k, d: D, separation: 10, seed });
  const queries = new Float32Array(G * T * D);
  for (let h = 0; h < G; h++) queries.set(sampleGmm(params, T, seed + 1 + h, 'float32').X.data, h * T * D);
  const rng = createRng(seed + 9);
  // keys of norm ~2: scores vary by a few nats, so 205 future queries estimate the mean of exp(score) well
  const keys = Float32Array.from(rotateRowsToPositions(Float64Array.from({ length: T * D }, () => 0.5 * rng.normal()), positions, invFreq));
  return { key: { task: 'planted', promptIdx: 0, layer: 0, head: 0 }, queries, groupSize: G, keys, positions, headDim: D };
}

describe('fidelityUnit on planted queries', () => {
  it('one Gaussian per group: best K = 1 and the mixture prediction is kvpress\'s, metric for metric', async () => {
    const r = await fidelityUnit(unitInput(1, 40), settings);
    expect(r.status).toBe('ok');
    expect(r.bestK).toBe(1);
    expect(r.nFuture).toBe(Math.round(0.2 * T));
    expect(r.rho.mixture).toBeCloseTo(r.rho.gaussian, 10);
    expect(r.logMass.mixture).toBeCloseTo(r.logMass.gaussian, 10);
    expect(r.logMass.mixture_perpos).toBeCloseTo(r.logMass.gaussian_perpos, 10);
    r.recall.gaussian.forEach((v, i) => expect(r.recall.mixture[i]).toBe(v));
    // the exact per-position expectation of the right model predicts the total within sampling error
    expect(Math.abs(r.logMass.gaussian_perpos)).toBeLessThan(0.05);
  });

  it('a planted 3-mixture: best K >= 3; the mixture gets the total right, the single Gaussian misses it', async () => {
    const r = await fidelityUnit(unitInput(3, 50), settings);
    expect(r.status).toBe('ok');
    expect(r.bestK).toBeGreaterThanOrEqual(3);
    expect(Math.abs(r.logMass.mixture_perpos)).toBeLessThan(0.05);
    expect(Math.abs(r.logMass.gaussian_perpos)).toBeGreaterThan(3 * Math.abs(r.logMass.mixture_perpos));
    expect(r.rho.mixture_perpos).toBeGreaterThan(r.rho.gaussian_perpos);
  });

  it('queries the mixture engine refuses (a constant dimension) keep their other predictions', async () => {
    const input = unitInput(1, 40);
    for (let i = 0; i < G * T; i++) input.queries[i * D] = 0.25;
    const r = await fidelityUnit(input, settings);
    expect(r.status).toMatch(/^mixture failed: .*constant/);
    expect(r.rho.mixture).toBeNaN();
    expect(r.rho.gaussian).toBeGreaterThan(0.5);
    expect(r.rho.empirical).toBeGreaterThan(0.5);
  });
});
