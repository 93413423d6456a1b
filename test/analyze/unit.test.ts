import { describe, expect, it } from 'vitest';
import { analyzeUnit, type UnitSettings } from '../../src/analyze/unit.js';
import { createRng } from '../../src/util/rng.js';
import type { Matrix } from '../../src/stats/types.js';

const SETTINGS: UnitSettings = { kMax: 3, covariance: 'full', holdout: 0.25, alpha: 0.05, seed: 0, kernelThreads: 1 };
const KEY = { task: 't', promptIdx: 0, layer: 0, head: 0 };

function gaussian(n: number, d: number, seed: number): Matrix {
  const rng = createRng(seed);
  return { data: Float32Array.from({ length: n * d }, () => rng.normal()), rows: n, cols: d };
}

describe('analyzeUnit', () => {
  it('reports non-finite data (float16 overflow) as a failed unit instead of throwing', async () => {
    const X = gaussian(200, 4, 1);
    X.data[37 * 4 + 2] = Infinity;
    const r = await analyzeUnit(X, new Int32Array(200), KEY, SETTINGS);
    expect(r.status).toBe('non-finite value in row 37');
    expect(r.bestK).toBe(0);
  });

  it('reports data the engine cannot fit (a constant dimension) as a failed unit', async () => {
    const X = gaussian(200, 4, 2);
    for (let i = 0; i < 200; i++) X.data[i * 4 + 1] = 3;
    const r = await analyzeUnit(X, new Int32Array(200), KEY, SETTINGS);
    expect(r.status).toMatch(/^fit failed: /);
  });

  it('is deterministic for a seed and fills every column for good data', async () => {
    const X = gaussian(400, 3, 3);
    const strata = Int32Array.from({ length: 400 }, (_, i) => i % 4);
    const a = await analyzeUnit(X, strata, KEY, SETTINGS);
    const b = await analyzeUnit(X, strata, KEY, SETTINGS);
    expect({ ...a, seconds: 0, secondsBy: {} }).toEqual({ ...b, seconds: 0, secondsBy: {} });
    // every statistic was timed, and the steps fit in the unit's time
    const steps = Object.values(a.secondsBy ?? {});
    expect(Object.keys(a.secondsBy ?? {}).sort()).toEqual(['gmmLogPdf', 'kde', 'modes', 'pit', 'split', 'studentT', 'sweep']);
    expect(steps.reduce((s, v) => s + v, 0)).toBeLessThanOrEqual(a.seconds + 1e-9);
    expect(a.nTest).toBe(100); // 25 % of each of the 4 strata
    expect(a.bicByK.length).toBe(3);
    for (const v of [a.deltaBicK1, a.ksStat, a.ksP, a.llTestK1, a.llTestGmm, a.llTestKde, a.llTestT, a.bicT, a.tDof]) expect(Number.isFinite(v)).toBe(true);
    // the worst direction saw every held-out row, or the odd half (held-out principal axes)
    expect([100, 50]).toContain(a.pitHist.reduce((s, c) => s + c, 0));
  });
});
