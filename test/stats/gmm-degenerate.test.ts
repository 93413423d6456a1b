// Degenerate units must come back as a GmmDataError naming the problem (or a fit with a
// warning for a collapsed component), never a crash or NaN.
import { describe, expect, it } from 'vitest';
import { fitGmm, gmmLogPdf, GmmDataError, sweepK, type Matrix } from '../../src/stats/gmm.js';
import { fitStudentT, studentTLogPdf } from '../../src/stats/student-t.js';
import { gmmConditionalCdfs } from '../../src/stats/gmm-cdf.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';

async function problemOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GmmDataError) return err.problem;
    throw err;
  }
  return 'none';
}

function gaussianRows(n: number, d: number, seed: number): Matrix {
  return sampleGmm(plantedMixture({ k: 1, d, separation: 0, seed }), n, seed + 1).X;
}

describe('degenerate inputs', () => {
  it('rejects NaN and Inf (float16 overflow) with the position', async () => {
    const X = gaussianRows(200, 4, 1);
    X.data[37] = NaN;
    expect(await problemOf(fitGmm(X, { k: 2 }))).toBe('non-finite');
    X.data[37] = Infinity;
    await expect(sweepK(X, { kMax: 3 })).rejects.toThrow(/non-finite value \(Infinity\) at row 9, column 1/);
    expect(await problemOf(fitStudentT(X))).toBe('non-finite');
    expect(await problemOf(gmmLogPdf(plantedMixture({ k: 2, d: 4, separation: 1, seed: 3 }), X))).toBe('non-finite');
  });

  it('rejects a constant dimension', async () => {
    const X = gaussianRows(300, 5, 2);
    for (let i = 0; i < 300; i++) X.data[i * 5 + 3] = 0.25;
    expect(await problemOf(fitGmm(X, { k: 1 }))).toBe('constant-dimension');
  });

  it('rejects all-duplicate rows and too few distinct rows; more components than rows', async () => {
    const d = 3;
    const dup: Matrix = { data: new Float64Array(100 * d).fill(1.5), rows: 100, cols: d };
    expect(await problemOf(fitGmm(dup, { k: 1 }))).toBe('constant-dimension');
    // 3 distinct rows repeated: every dimension varies, but a t fit needs d + 1 = 4 distinct rows
    const few = new Float64Array(90 * d);
    for (let i = 0; i < 90; i++) for (let j = 0; j < d; j++) few[i * d + j] = ((i % 3) + j * (i % 3 === 1 ? 2 : 1)) * 0.5;
    expect(await problemOf(fitStudentT({ data: few, rows: 90, cols: d }))).toBe('too-few-distinct-rows');
    expect(await problemOf(fitGmm(gaussianRows(5, 2, 3), { k: 6 }))).toBe('too-few-samples');
  });

  it('survives heavy duplication: finite fit, singular components regularised or dropped with a warning', async () => {
    const X = gaussianRows(400, 4, 4);
    // half the rows are one repeated point: a component sitting on it has a zero covariance + reg
    for (let i = 0; i < 200; i++) for (let j = 0; j < 4; j++) X.data[i * 4 + j] = X.data[j];
    const fit = await fitGmm(X, { k: 3 });
    expect(Number.isFinite(fit.meanLogLikelihood)).toBe(true);
    expect(Number.isFinite(fit.bic)).toBe(true);
    expect(fit.means.every(Number.isFinite)).toBe(true);
  });

  it('drops a component that collapses below d + 1 effective points and says so', async () => {
    const d = 8;
    const truth = plantedMixture({ k: 2, d, separation: 6, seed: 5 });
    const { X } = sampleGmm(truth, 600, 6);
    // 5 far-away outliers and a starting component placed exactly on them
    const outlier = 40;
    for (let i = 0; i < 5; i++) for (let j = 0; j < d; j++) X.data[i * d + j] = outlier + 0.1 * Math.sin(i * d + j);
    const means = new Float64Array(3 * d);
    means.set(truth.means);
    means.fill(outlier, 2 * d);
    const covariances = new Float64Array(3 * d * d);
    covariances.set(truth.covariances);
    for (let j = 0; j < d; j++) covariances[2 * d * d + j * d + j] = 1;
    const fit = await fitGmm(X, { k: 3, init: { k: 3, d, covariance: 'full', weights: Float64Array.of(0.45, 0.45, 0.1), means, covariances } });
    expect(fit.kRequested).toBe(3);
    expect(fit.k).toBe(2);
    expect(fit.warnings.join('\n')).toMatch(/component 3 of 3 dropped: 5\.0 effective points < 9/);
    expect(fit.weights.length).toBe(2);
    expect(Number.isFinite(fit.meanLogLikelihood)).toBe(true);
    // BIC counts the parameters of the mixture actually returned
    expect(fit.nParameters).toBe(2 * (d * (d + 1)) / 2 + 2 * d + 1);
  });

  it('evaluates a model on zero rows as an empty result', async () => {
    const p = plantedMixture({ k: 2, d: 3, separation: 1, seed: 9 });
    const empty: Matrix = { data: new Float64Array(0), rows: 0, cols: 3 };
    expect((await gmmLogPdf(p, empty)).length).toBe(0);
    expect((await gmmConditionalCdfs(p, empty)).length).toBe(0);
    const t = { d: 3, mean: new Float64Array(3), scatter: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), dof: 5 };
    expect((await studentTLogPdf(t, empty)).length).toBe(0);
    await expect(sweepK(gaussianRows(50, 2, 10), { kMax: 0 })).rejects.toThrow(/kMin <= kMax/);
  });

  it('rejects starting parameters that do not fit the data', async () => {
    const X = gaussianRows(100, 3, 7);
    const bad = plantedMixture({ k: 2, d: 4, separation: 1, seed: 8 });
    expect(await problemOf(fitGmm(X, { k: 2, init: bad }))).toBe('bad-parameters');
  });
});
