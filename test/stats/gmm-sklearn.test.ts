// The EM engine against scikit-learn 1.2's GaussianMixture (Debian python3-sklearn): from the
// same starting parameters, the same iterations must give the same numbers; from each
// side's own k-means init, our final log-likelihood must be as good; and with the same seed
// both draw the same k-means++ centres, so they must reach the same fit.
import { describe, expect, it } from 'vitest';
import { fitGmm, gmmLogPdf, type GmmParams } from '../../src/stats/gmm.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import type { KernelOptions } from '../../src/stats/kernels/index.js';
import { python, relDiff } from './gmm-python.js';

const SAME_START = `
import warnings
from sklearn.mixture import GaussianMixture
n, d, k, ct = inp['n'], inp['d'], inp['k'], inp['covType']
X = A('X', n, d)
P = np.linalg.inv(A('covs', k, d, d)) if ct == 'full' else 1.0 / A('covs', k, d)
g = GaussianMixture(k, covariance_type=ct, weights_init=A('w'), means_init=A('mu', k, d), precisions_init=P,
                    reg_covar=inp['reg'], tol=0.0, max_iter=inp['iters'], random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    g.fit(X)
out(lower_bound=float(g.lower_bound_), score=float(g.score(X)), bic=float(g.bic(X)), n_iter=int(g.n_iter_),
    samples=g.score_samples(X), weights=g.weights_, means=g.means_.ravel(), pc=g.precisions_cholesky_.ravel())
`;

interface SkSame { lower_bound: number; score: number; bic: number; n_iter: number; samples: number[]; weights: number[]; means: number[]; pc: number[] }

/** A start near, not at, the truth: means shifted, covariances inflated, equal weights. */
function perturbedStart(truth: GmmParams, covariance: 'full' | 'diag'): GmmParams {
  const { k, d } = truth;
  const means = truth.means.map((v, t) => v + 0.3 * Math.sin(t + 1));
  let covariances = truth.covariances.map((v) => 1.5 * v);
  if (covariance === 'diag') {
    covariances = new Float64Array(k * d);
    for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) covariances[c * d + j] = 1.5 * truth.covariances[c * d * d + j * d + j];
  }
  return { k, d, covariance, weights: Float64Array.from({ length: k }, () => 1 / k), means, covariances };
}

function maxRel(a: ArrayLike<number>, b: number[]): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, relDiff(a[i], b[i]));
  return m;
}

describe('gmm against scikit-learn from the same starting parameters', () => {
  const iters = 6;
  const cases: Array<{ d: number; covariance: 'full' | 'diag'; kernels: KernelOptions; tol: number }> = [
    { d: 6, covariance: 'full', kernels: { backend: 'js' }, tol: 1e-6 },
    { d: 6, covariance: 'full', kernels: { backend: 'ort', precision: 'float64' }, tol: 1e-6 },
    // the production path runs the products in float32; centring in float64 first keeps it within 1e-6 too
    { d: 6, covariance: 'full', kernels: { backend: 'ort', precision: 'float32' }, tol: 1e-6 },
    { d: 12, covariance: 'full', kernels: { backend: 'ort', precision: 'float32' }, tol: 1e-6 },
    { d: 6, covariance: 'diag', kernels: { backend: 'js' }, tol: 1e-6 },
    { d: 12, covariance: 'diag', kernels: { backend: 'ort', precision: 'float32' }, tol: 1e-6 },
  ];
  for (const { d, covariance, kernels, tol } of cases) {
    const truth = plantedMixture({ k: 3, d, separation: 3, weights: [3, 2, 1], seed: 21 });
    const { X } = sampleGmm(truth, 800, 22);
    it(`d ${d}, ${covariance}, ${kernels.backend} ${kernels.precision ?? 'float64'}: LL/sample, BIC, parameters and per-sample log density within ${tol} relative after ${iters} iterations`, async () => {
      const init = perturbedStart(truth, covariance);
      const fit = await fitGmm(X, { k: 3, covariance, init, maxIter: iters, tol: 0, ...kernels });
      const sk = python<SkSame>(SAME_START, {
        n: X.rows, d: X.cols, k: 3, covType: covariance, X: X.data, w: init.weights, mu: init.means, covs: init.covariances,
        reg: fit.regCovarAbsolute, iters,
      });
      expect(fit.nIter).toBe(sk.n_iter);
      expect(fit.warnings).toEqual([]);
      expect(relDiff(fit.lowerBound, sk.lower_bound)).toBeLessThan(tol);
      expect(relDiff(fit.meanLogLikelihood, sk.score)).toBeLessThan(tol);
      expect(relDiff(fit.bic, sk.bic)).toBeLessThan(tol);
      expect(maxRel(fit.weights, sk.weights)).toBeLessThan(tol * 10);
      // means near zero make a relative bound meaningless: compare against the data's scale
      expect(Math.max(...sk.means.map((v, t) => Math.abs(fit.means[t] - v)))).toBeLessThan(tol * 10);
      const samples = await gmmLogPdf(fit, X, kernels);
      expect(maxRel(samples, sk.samples)).toBeLessThan(tol * 10);
      // precisions_cholesky_ is scikit-learn's (upper) factor exactly, not just any square root
      const scalePc = Math.max(...sk.pc.map(Math.abs));
      expect(Math.max(...sk.pc.map((v, t) => Math.abs(fit.precisionsCholesky[t] - v))) / scalePc).toBeLessThan(tol * 10);
    });
  }
});

const OWN_INIT = `
from sklearn.mixture import GaussianMixture
n, d = inp['n'], inp['d']
X = A('X', n, d)
res = []
for k in inp['ks']:
    g = GaussianMixture(k, covariance_type=inp['covType'], reg_covar=inp['reg'], random_state=0).fit(X)
    res.append(dict(k=k, score=float(g.score(X)), bic=float(g.bic(X))))
out(fits=res)
`;

describe('gmm against scikit-learn from their own k-means inits', () => {
  for (const covariance of ['full', 'diag'] as const) {
    it(`${covariance}: final LL within 1e-3 nats/sample of scikit-learn or higher (K = 1, planted 4, 5)`, async () => {
      const truth = plantedMixture({ k: 4, d: 16, separation: 8, weights: [4, 3, 2, 1], seed: 31 });
      const { X } = sampleGmm(truth, 3000, 32, 'float32');
      const ks = [1, 4, 5];
      const fits = [];
      for (const k of ks) fits.push(await fitGmm(X, { k, covariance }));
      const sk = python<{ fits: Array<{ k: number; score: number; bic: number }> }>(OWN_INIT, {
        n: X.rows, d: X.cols, X: X.data, ks, covType: covariance, reg: fits[0].regCovarAbsolute,
      });
      ks.forEach((k, i) => {
        expect(fits[i].k).toBe(k);
        expect(fits[i].meanLogLikelihood).toBeGreaterThan(sk.fits[i].score - 1e-3);
        expect(Number.isFinite(fits[i].bic)).toBe(true);
      });
    });
  }
});

const SAME_SEED = `
import warnings
from sklearn.mixture import GaussianMixture
n, d = inp['n'], inp['d']
X = A('X', n, d).astype(np.float32)
res = []
for k in inp['ks']:
    g = GaussianMixture(k, covariance_type=inp['covType'], reg_covar=inp['reg'], random_state=inp['seed'],
                        n_init=inp['nInit'], init_params=inp['init'])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        g.fit(X)
    res.append(dict(score=float(g.score(X)), n_iter=int(g.n_iter_), weights=sorted(g.weights_.tolist())))
out(fits=res)
`;

describe('gmm seeded like scikit-learn: seed s starts where GaussianMixture(random_state=s) starts', () => {
  // overlapping components, so different starts end in different local optima: only the same
  // initialisation can agree at every K
  const truth = plantedMixture({ k: 4, d: 16, separation: 2.5, anisotropy: 0.6, weights: [4, 3, 2, 1], seed: 41 });
  const { X } = sampleGmm(truth, 2000, 42, 'float32');
  const ks = [1, 2, 3, 4, 5, 6];
  const cases = [
    { covariance: 'full', seed: 0, nInit: 1, init: 'kmeans' },
    { covariance: 'full', seed: 7, nInit: 2, init: 'kmeans' },
    { covariance: 'diag', seed: 3, nInit: 1, init: 'kmeans' },
    { covariance: 'full', seed: 5, nInit: 1, init: 'random' },
  ] as const;
  for (const c of cases) {
    it(`${c.covariance}, seed ${c.seed}, nInit ${c.nInit}, ${c.init} init: LL/sample within 1e-6 relative and the same iterations at K = 1..6`, async () => {
      const fits = [];
      for (const k of ks) fits.push(await fitGmm(X, { k, covariance: c.covariance, seed: c.seed, nInit: c.nInit, init: c.init }));
      const sk = python<{ fits: Array<{ score: number; n_iter: number; weights: number[] }> }>(SAME_SEED, {
        n: X.rows, d: X.cols, X: X.data, ks, covType: c.covariance, reg: fits[0].regCovarAbsolute, seed: c.seed, nInit: c.nInit,
        init: c.init === 'kmeans' ? 'kmeans' : 'random',
      });
      ks.forEach((k, i) => {
        expect(relDiff(fits[i].meanLogLikelihood, sk.fits[i].score)).toBeLessThan(1e-6);
        expect(fits[i].nIter).toBe(sk.fits[i].n_iter);
        const w = Array.from(fits[i].weights).sort((a, b) => a - b);
        w.forEach((v, t) => expect(Math.abs(v - sk.fits[i].weights[t])).toBeLessThan(1e-5));
      });
    });
  }
});
