// Rosenblatt conditional CDFs of a Gaussian mixture against an independent numpy/scipy
// computation (Schur complements and marginal densities), and the normal CDF's tails.
import { describe, expect, it } from 'vitest';
import { gmmConditionalCdfs, normalCdf } from '../../src/stats/gmm-cdf.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import type { GmmParams } from '../../src/stats/types.js';
import { python, relDiff } from './gmm-python.js';

const REFERENCE = `
from scipy.stats import norm, multivariate_normal as mvn
n, d, k = inp['n'], inp['d'], inp['k']
X = A('X', n, d); w = A('w'); mu = A('mu', k, d); S = A('S', k, d, d)
U = np.zeros((n, d))
for j in range(d):
    logw = np.zeros((n, k)); cdf = np.zeros((n, k))
    for c in range(k):
        if j == 0:
            m = np.full(n, mu[c, 0]); v = S[c, 0, 0]; lm = np.zeros(n)
        else:
            Sa = S[c, :j, :j]; b = S[c, j, :j]
            coef = np.linalg.solve(Sa, b)
            m = mu[c, j] + (X[:, :j] - mu[c, :j]) @ coef
            v = S[c, j, j] - b @ coef
            lm = np.atleast_1d(mvn(mu[c, :j], Sa).logpdf(X[:, :j]))
        logw[:, c] = np.log(w[c]) + lm
        cdf[:, c] = norm.cdf((X[:, j] - m) / np.sqrt(v))
    logw -= logw.max(axis=1, keepdims=True)
    p = np.exp(logw); p /= p.sum(axis=1, keepdims=True)
    U[:, j] = (p * cdf).sum(axis=1)
out(u=U.ravel())
`;

function toDiag(p: GmmParams): GmmParams {
  const { k, d } = p;
  const covariances = new Float64Array(k * d);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) covariances[c * d + j] = p.covariances[c * d * d + j * d + j];
  return { ...p, covariance: 'diag', covariances };
}

function diagAsFull(p: GmmParams): Float64Array {
  const { k, d } = p;
  const S = new Float64Array(k * d * d);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) S[c * d * d + j * d + j] = p.covariances[c * d + j];
  return S;
}

describe('gmm conditional CDFs (Rosenblatt transform)', () => {
  const params = plantedMixture({ k: 3, d: 5, separation: 2, weights: [1, 2, 3], seed: 61 });
  const { X } = sampleGmm(params, 60, 62);

  for (const backend of ['js', 'ort'] as const) {
    it(`full covariance, ${backend} kernels: matches the Schur-complement reference (${backend === 'js' ? '1e-9' : '1e-5'} absolute)`, async () => {
      const u = await gmmConditionalCdfs(params, X, { backend });
      const ref = python<{ u: number[] }>(REFERENCE, { n: 60, d: 5, k: 3, X: X.data, w: params.weights, mu: params.means, S: params.covariances });
      const tol = backend === 'js' ? 1e-9 : 1e-5; // ort float32 whitening
      ref.u.forEach((v, i) => expect(Math.abs(u[i] - v)).toBeLessThan(tol));
    });
  }

  it('diag covariance matches the same reference with diagonal matrices (1e-9 absolute)', async () => {
    const diag = toDiag(params);
    const u = await gmmConditionalCdfs(diag, X);
    const ref = python<{ u: number[] }>(REFERENCE, { n: 60, d: 5, k: 3, X: X.data, w: diag.weights, mu: diag.means, S: diagAsFull(diag) });
    ref.u.forEach((v, i) => expect(Math.abs(u[i] - v)).toBeLessThan(1e-9));
  });

  it('normalCdf matches scipy.stats.norm.cdf to 1e-13 relative, deep tails included', () => {
    const zs = [-37.5, -20, -8.3, -5, -3.1, -1.7, -0.5, 0, 1e-3, 0.4, 1.2, 1.7, 1.77, 2.5, 3.6, 6, 8.2];
    const ref = python<{ v: number[] }>('from scipy.stats import norm\nout(v=norm.cdf(A("z")))', { z: zs });
    zs.forEach((z, i) => expect(relDiff(normalCdf(z), ref.v[i])).toBeLessThan(1e-13));
  });
});
