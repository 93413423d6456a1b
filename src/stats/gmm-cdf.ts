/**
 * Per-dimension conditional CDFs of a Gaussian mixture, the Rosenblatt transform used by the
 * PIT test: u[i, j] = P(X_j <= x_ij | X_1..X_{j-1} = x_i1..x_i,j-1) in the given column
 * order. With Sigma_c = L_c L_c^T, the whitened z_c = L_c^-1 (x - mu_c) = (x - mu_c) U_c
 * (scikit-learn's precision factor) has z_cj depending only on x_1..x_j, so
 *   u_ij = sum_c w_c(x_<j) Phi(z_cj),   w_c(x_<j) ∝ pi_c prod_{m<j} phi(z_cm) U_c,mm,
 * i.e. each component's conditional is N(mu_cj|<j, L_c,jj^2) and its weight is its share of
 * the marginal density of the preceding coordinates. For one component u is i.i.d. U(0,1)
 * under the model.
 */
import { openEvaluation } from './gmm.js';
import type { KernelOptions } from './kernels/index.js';
import { whiteningBlocks } from './gmm-em.js';
import type { GmmParams, Matrix } from './types.js';

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Conditional CDFs u [n, d] (row-major, each in [0, 1]) of the mixture at the rows of X. */
export async function gmmConditionalCdfs(params: GmmParams, X: Matrix, opts: KernelOptions = {}): Promise<Float64Array> {
  if (X.rows === 0) return new Float64Array(0);
  const { comps, kernels, x } = openEvaluation(params, X, opts);
  const { k, d } = comps;
  const n = X.rows;
  // z [n, k*d]: whitened coordinates of every row under every component
  let z: Float32Array | Float64Array;
  const logDiagU = new Float64Array(k * d);
  if (comps.covariance === 'full') {
    const { W, b } = whiteningBlocks(comps);
    z = await kernels.whiten(W, b, k);
    for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) logDiagU[c * d + j] = Math.log(comps.precChol[c * d * d + j * d + j]);
  } else {
    z = new Float64Array(n * k * d);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) {
      z[i * k * d + c * d + j] = (x[i * d + j] - comps.means[c * d + j]) * comps.precChol[c * d + j];
    }
    for (let t = 0; t < k * d; t++) logDiagU[t] = Math.log(comps.precChol[t]);
  }
  const u = new Float64Array(n * d);
  const logW = new Float64Array(k);
  const w = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) logW[c] = Math.log(comps.weights[c]);
    const zi = i * k * d;
    for (let j = 0; j < d; j++) {
      let mx = -Infinity;
      for (let c = 0; c < k; c++) if (logW[c] > mx) mx = logW[c];
      let s = 0;
      for (let c = 0; c < k; c++) s += w[c] = Math.exp(logW[c] - mx);
      let acc = 0;
      for (let c = 0; c < k; c++) {
        const zc = z[zi + c * d + j];
        acc += w[c] * normalCdf(zc);
        logW[c] += -0.5 * zc * zc - LOG_SQRT_2PI + logDiagU[c * d + j];
      }
      u[i * d + j] = Math.min(1, Math.max(0, acc / s));
    }
  }
  return u;
}

/** Standard normal CDF, accurate to ~1e-15 relative in both tails (erfc by series / continued fraction). */
export function normalCdf(z: number): number {
  return z < 0 ? 0.5 * erfc(-z / Math.SQRT2) : 1 - 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function for x >= 0. */
function erfc(x: number): number {
  if (x < 2.5) {
    // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): positive terms, no cancellation
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let nn = 1; nn < 200 && term > 1e-17 * sum; nn++) {
      term *= (2 * x2) / (2 * nn + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  // continued fraction erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated backwards
  let f = x;
  for (let m = 60; m >= 1; m--) f = x + m / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
