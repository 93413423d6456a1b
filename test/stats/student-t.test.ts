// Multivariate Student t by ECME: planted degrees of freedom are recovered, the log-density
// matches scipy's multivariate_t, and on t(5) data the t model beats a 2-component GMM in BIC.
import { describe, expect, it } from 'vitest';
import { fitGmm } from '../../src/stats/gmm.js';
import { sampleStudentT } from '../../src/stats/gmm-sample.js';
import { fitStudentT, logGamma, studentTLogPdf } from '../../src/stats/student-t.js';
import { createRng } from '../../src/util/rng.js';
import { python, relDiff } from './gmm-python.js';

/** A scatter matrix with correlations: 0.5^|i-j| scaled per dimension, plus a shifted mean. */
function plantedT(d: number) {
  const scatter = new Float64Array(d * d);
  const s = Array.from({ length: d }, (_, j) => 0.5 + (j % 5) * 0.3);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) scatter[i * d + j] = 0.5 ** Math.abs(i - j) * s[i] * s[j];
  const mean = Float64Array.from({ length: d }, (_, j) => Math.cos(j) * 3);
  return { mean, scatter };
}

describe('student t', () => {
  it('logGamma matches python math.lgamma to 1e-13 relative', () => {
    const xs = [0.1, 0.5, 1, 1.5, 2.5, 7.3, 33, 250.5, 5000];
    const ref = python<{ v: number[] }>('import math\nout(v=[math.lgamma(x) for x in inp["xs"]])', { xs });
    xs.forEach((x, i) => expect(Math.abs(logGamma(x) - ref.v[i])).toBeLessThan(1e-13 * Math.max(1, Math.abs(ref.v[i]))));
  });

  for (const [dof, d] of [[5, 8], [3, 32], [12, 16]] as const) {
    it(`recovers dof ${dof} at d ${d} (within 15 %) and the mean and scatter`, async () => {
      const { mean, scatter } = plantedT(d);
      const X = sampleStudentT(mean, scatter, dof, 4000, 100 + d);
      const fit = await fitStudentT(X);
      expect(fit.converged).toBe(true);
      expect(Math.abs(fit.dof - dof) / dof).toBeLessThan(0.15);
      // mean error: a few standard errors of sqrt(scatter_jj)/sqrt(n)
      for (let j = 0; j < d; j++) expect(Math.abs(fit.mean[j] - mean[j])).toBeLessThan(5 * Math.sqrt(scatter[j * d + j] * 2 / 4000));
      for (let j = 0; j < d; j++) expect(relDiff(fit.scatter[j * d + j], scatter[j * d + j])).toBeLessThan(0.15);
    });
  }

  it('log-density matches scipy.stats.multivariate_t (1e-10 relative) and the fit LL is its mean', async () => {
    const d = 6;
    const { mean, scatter } = plantedT(d);
    const X = sampleStudentT(mean, scatter, 4, 300, 9);
    const fit = await fitStudentT(X, { backend: 'js' });
    const ref = python<{ lp: number[] }>(`
from scipy.stats import multivariate_t
out(lp=multivariate_t(loc=A('mu'), shape=A('S', ${d}, ${d}), df=inp['dof']).logpdf(A('X', 300, ${d})))
`, { mu: fit.mean, S: fit.scatter, dof: fit.dof, X: X.data });
    const lp = await studentTLogPdf(fit, X, { backend: 'js' });
    ref.lp.forEach((v, i) => expect(relDiff(lp[i], v)).toBeLessThan(1e-10));
    const meanLp = ref.lp.reduce((a, b) => a + b, 0) / ref.lp.length;
    expect(relDiff(fit.meanLogLikelihood, meanLp)).toBeLessThan(1e-10);
    expect(fit.nParameters).toBe((d * (d + 1)) / 2 + d + 1);
    expect(relDiff(fit.bic, -2 * meanLp * 300 + fit.nParameters * Math.log(300))).toBeLessThan(1e-10);
  });

  it('beats a K = 2 Gaussian mixture in BIC on t(5) data (4096 x 32)', async () => {
    const d = 32;
    const rng = createRng(4);
    const { scatter } = plantedT(d);
    const X = sampleStudentT(Float64Array.from({ length: d }, () => rng.normal()), scatter, 5, 4096, 41);
    const t = await fitStudentT(X);
    const g2 = await fitGmm(X, { k: 2 });
    expect(t.bic).toBeLessThan(g2.bic);
    expect(t.meanLogLikelihood).toBeGreaterThan(g2.meanLogLikelihood);
  });
});
