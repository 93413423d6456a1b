// Multivariate Student t by ECME: planted degrees of freedom are recovered, the log-density
// matches scipy's multivariate_t, and on t(5) data the t model beats a 2-component GMM in BIC.
import { describe, expect, it } from 'vitest';
import { fitGmm } from '../../src/stats/gmm.js';
import { sampleStudentT } from '../../src/stats/gmm-sample.js';
import { bestDof, digamma, dofSlope, fitStudentT, logGamma, studentTLogPdf } from '../../src/stats/student-t.js';
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

  it('digamma matches scipy.special.digamma to 1e-14 (absolute, or relative above 1)', () => {
    const xs = [0.05, 0.5, 1, 1.4616321449683623, 2.5, 9.99, 10, 10.01, 64.25, 80, 5000.5];
    const ref = python<{ v: number[] }>('from scipy.special import digamma\nout(v=[float(digamma(x)) for x in inp["xs"]])', { xs });
    xs.forEach((x, i) => expect(Math.abs(digamma(x) - ref.v[i]!)).toBeLessThan(1e-14 * Math.max(1, Math.abs(ref.v[i]!))));
  });

  it('the dof step maximises the exact t log-likelihood (scipy bounded search, 1e-7 relative), ends of the range included', () => {
    const rng = createRng(8);
    for (const [trueDof, d] of [[4, 5], [40, 16], [160, 128]] as const) {
      // squared distances of t(trueDof) rows: d chi2_d / (chi2_dof / dof) up to scale
      const n = 3000;
      const delta = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let num = 0;
        for (let j = 0; j < d; j++) num += rng.normal() ** 2;
        let den = 0;
        for (let j = 0; j < Math.round(trueDof); j++) den += rng.normal() ** 2;
        delta[i] = num / (den / trueDof);
      }
      const ref = python<{ dof: number; slope: number[] }>(`
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln, digamma
delta, d = A('delta'), inp['d']
def f(lognu):
    nu = np.exp(lognu)
    return -(gammaln((nu + d) / 2) - gammaln(nu / 2) - d / 2 * np.log(nu) - (nu + d) / 2 * np.mean(np.log1p(delta / nu)))
r = minimize_scalar(f, bounds=(np.log(0.5), np.log(1e4)), method='bounded', options={'xatol': 1e-12})
# the slope by central differences in nu, for the closed form
sl = [(-f(np.log(nu + 1e-4 * nu)) + f(np.log(nu - 1e-4 * nu))) / (2e-4 * nu) for nu in inp['nus']]
out(dof=float(np.exp(r.x)), slope=sl)
`, { delta, d, nus: [1, 7.5, 100] });
      expect(relDiff(bestDof(delta, d, [0.5, 1e4]), ref.dof)).toBeLessThan(1e-7);
      [1, 7.5, 100].forEach((nu, i) => expect(Math.abs(dofSlope(delta, d, nu) - ref.slope[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(ref.slope[i]!))));
      // a maximum outside the range lands on its end
      expect(bestDof(delta, d, [0.5, trueDof / 3])).toBe(trueDof / 3);
      expect(bestDof(delta, d, [trueDof * 3, 1e4])).toBe(trueDof * 3);
    }
  });

  it('converges to the maximum-likelihood t that scipy finds by L-BFGS on the same rows (d 3)', async () => {
    const d = 3;
    const { mean, scatter } = plantedT(d);
    const X = sampleStudentT(mean, scatter, 6, 600, 17);
    const fit = await fitStudentT(X, { backend: 'js', tol: 1e-12, regCovar: 0 }); // no ridge: the plain MLE
    const ref = python<{ ll: number; dof: number; mu: number[]; S: number[] }>(`
import numpy as np
from scipy.optimize import minimize
from scipy.stats import multivariate_t
X = A('X', 600, ${d})
def unpack(p):
    L = np.zeros((${d}, ${d})); L[np.tril_indices(${d})] = p[${d}:${d} + ${(d * (d + 1)) / 2}]
    L[np.diag_indices(${d})] = np.exp(np.diag(L))
    return p[:${d}], L @ L.T, np.exp(p[-1])
def nll(p):
    mu, S, nu = unpack(p)
    return -np.mean(multivariate_t(loc=mu, shape=S, df=nu).logpdf(X))
L0 = np.linalg.cholesky(np.cov(X.T)); L0[np.diag_indices(${d})] = np.log(np.diag(L0))
p0 = np.concatenate([X.mean(0), L0[np.tril_indices(${d})], [np.log(10.0)]])
r = minimize(nll, p0, method='L-BFGS-B', options={'ftol': 1e-15, 'gtol': 1e-10, 'maxiter': 5000})
mu, S, nu = unpack(r.x)
out(ll=-float(r.fun), dof=float(nu), mu=mu, S=S.ravel())
`, { X: X.data });
    // the same maximum: log-likelihoods within 1e-9 nats per row, parameters within the optimiser's reach
    expect(Math.abs(fit.meanLogLikelihood - ref.ll)).toBeLessThan(1e-9);
    expect(relDiff(fit.dof, ref.dof)).toBeLessThan(1e-4);
    for (let j = 0; j < d; j++) expect(Math.abs(fit.mean[j]! - ref.mu[j]!)).toBeLessThan(1e-5);
    for (let t = 0; t < d * d; t++) expect(Math.abs(fit.scatter[t]! - ref.S[t]!)).toBeLessThan(1e-5 * Math.sqrt(ref.S[0]! * ref.S[4]!));
  });

  it('the onnxruntime float32 products give the float64 loop fit to rounding (4000 x 16)', async () => {
    const d = 16;
    const { mean, scatter } = plantedT(d);
    const X = sampleStudentT(mean, scatter, 30, 4000, 23);
    const ort = await fitStudentT(X);
    const js = await fitStudentT(X, { backend: 'js' });
    expect(ort.nIter).toBe(js.nIter);
    expect(Math.abs(ort.meanLogLikelihood - js.meanLogLikelihood)).toBeLessThan(1e-5);
    expect(relDiff(ort.dof, js.dof)).toBeLessThan(1e-3);
    const test = sampleStudentT(mean, scatter, 30, 500, 24);
    const a = await studentTLogPdf(ort, test);
    const b = await studentTLogPdf(ort, test, { backend: 'js' });
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-4));
  });
});
