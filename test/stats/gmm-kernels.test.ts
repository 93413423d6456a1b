// The onnxruntime graphs against the float64 loop kernels (themselves checked against
// scikit-learn through the EM tests): same products, precision-appropriate tolerances.
import { describe, expect, it } from 'vitest';
import { createJsKernels } from '../../src/stats/kernels/js.js';
import { createOrtKernels } from '../../src/stats/kernels/ort.js';
import { createRng } from '../../src/util/rng.js';

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / scale;
}

// 1..3 columns: fewer blocks than BLOCKS; 13, 130: blocks of unequal width
describe.each([1, 3, 5, 13, 130])('ort kernels against the float64 reference kernels, d = %i', (d) => {
  const rng = createRng(3);
  const n = 300;
  const k = 3;
  // columns with an offset of a few sd, as the centred data of a separated mixture
  const X = Float64Array.from({ length: n * d }, (_, t) => rng.normal() + 3 * Math.sin(t % d));
  // each U_c upper triangular, as the kernel contract says
  const W = Float64Array.from({ length: d * k * d }, (_, t) => ((t % d) >= Math.floor(t / (k * d)) ? rng.normal() * 0.3 : 0));
  const b = Float64Array.from({ length: k * d }, () => rng.normal());
  const R = Float64Array.from({ length: n * k }, () => rng.next());
  const sumR = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) sumR[c] += R[i * k + c];
  const C = Float64Array.from({ length: k * d }, () => rng.normal());
  // symmetric d x d blocks [k, d, d]
  const S = new Float64Array(k * d * d);
  for (let c = 0; c < k; c++) for (let a = 0; a < d; a++) for (let e = 0; e <= a; e++) S[(c * d + a) * d + e] = S[(c * d + e) * d + a] = rng.normal();
  const ref = createJsKernels(X, n, d);

  it('the float64 reference: log-sum-exp of dot products and Gaussian log-mgf values, written out', async () => {
    const lse = await ref.logSumExpDot(C, k, 0.7);
    const offsets = Float64Array.from({ length: k }, (_, c) => c - 1.5);
    const lseOff = await ref.logSumExpDot(C, k, 0.7, offsets);
    const gl = await ref.gaussianLogits(C, S, k, 0.3, 0.05);
    for (const i of [0, 17, n - 1]) {
      const dot = (c: number) => Array.from({ length: d }, (_, j) => X[i * d + j]! * C[c * d + j]!).reduce((x, y) => x + y, 0);
      expect(lse[i]).toBeCloseTo(Math.log(Array.from({ length: k }, (_, c) => Math.exp(0.7 * dot(c))).reduce((x, y) => x + y, 0)), 10);
      expect(lseOff[i]).toBeCloseTo(Math.log(Array.from({ length: k }, (_, c) => Math.exp(0.7 * (dot(c) + offsets[c]!))).reduce((x, y) => x + y, 0)), 10);
      for (let c = 0; c < k; c++) {
        let quad = 0;
        for (let a = 0; a < d; a++) for (let e = 0; e < d; e++) quad += X[i * d + a]! * S[(c * d + a) * d + e]! * X[i * d + e]!;
        expect(gl[i * k + c]).toBeCloseTo(0.3 * dot(c) + 0.05 * quad, 9);
      }
    }
  });

  for (const [precision, tol] of [['float64', 1e-12], ['float32', 2e-5]] as const) {
    it(`${precision}: mahalanobis, whiten, weighted moments, sums, k-means steps and dot products within ${tol} (relative to the largest value)`, async () => {
      const ort = createOrtKernels(X, n, d, { precision });
      // mahalanobis takes the same factors stacked, [k, d, d]
      const U = new Float64Array(k * d * d);
      for (let c = 0; c < k; c++) for (let a = 0; a < d; a++) for (let j = 0; j < d; j++) U[(c * d + a) * d + j] = W[a * k * d + c * d + j];
      const sqRef = await ref.mahalanobis(U, b, k);
      // the reference itself, written out for a few rows: |x_i U_c - b_c|^2
      for (const i of [0, n - 1]) {
        for (let c = 0; c < k; c++) {
          let sq = 0;
          for (let j = 0; j < d; j++) {
            let z = -b[c * d + j];
            for (let a = 0; a < d; a++) z += X[i * d + a]! * U[(c * d + a) * d + j]!;
            sq += z * z;
          }
          expect(sqRef[i * k + c]).toBeCloseTo(sq, 8);
        }
      }
      expect(maxRelErr(await ort.mahalanobis(U, b, k), sqRef)).toBeLessThan(tol);
      expect(maxRelErr(await ort.whiten(W, b, k), await ref.whiten(W, b, k))).toBeLessThan(tol);
      const a = await ort.weightedMoments(R, sumR, k);
      const e = await ref.weightedMoments(R, sumR, k);
      expect(maxRelErr(a.means, e.means)).toBeLessThan(tol);
      // the scatter is accumulated about each component's mean, so the columns' offset of a
      // few sd costs float32 nothing beyond the product's own rounding
      expect(maxRelErr(a.scatter, e.scatter)).toBeLessThan(tol);
      // responsibilities as EM has them in high d: each row in one component, the rest ~0
      // (below the 40 % share of active pairs, so the rows are gathered per component)
      const Rsparse = Float64Array.from({ length: n * k }, (_, t) => (Math.floor(t / k) % k === t % k ? 1 - 2e-15 : 1e-15));
      const sumSparse = new Float64Array(k);
      for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) sumSparse[c] += Rsparse[i * k + c];
      const as = await ort.weightedMoments(Rsparse, sumSparse, k);
      const es = await ref.weightedMoments(Rsparse, sumSparse, k);
      expect(maxRelErr(as.means, es.means)).toBeLessThan(tol);
      expect(maxRelErr(as.scatter, es.scatter)).toBeLessThan(tol);
      expect(maxRelErr(await ort.crossDot(C, k), await ref.crossDot(C, k))).toBeLessThan(tol);
      expect(maxRelErr(await ort.logSumExpDot(C, k, 0.7), await ref.logSumExpDot(C, k, 0.7))).toBeLessThan(tol);
      const offsets = Float64Array.from({ length: k }, (_, c) => 0.5 * c - 1);
      expect(maxRelErr(await ort.logSumExpDot(C, k, 0.7, offsets), await ref.logSumExpDot(C, k, 0.7, offsets))).toBeLessThan(tol);
      expect(maxRelErr(await ort.gaussianLogits(C, S, k, 0.3, 0.05), await ref.gaussianLogits(C, S, k, 0.3, 0.05))).toBeLessThan(tol);
      expect(maxRelErr(await ort.weightedSums(R, k), await ref.weightedSums(R, k))).toBeLessThan(tol);
      const a2 = await ort.kmeansStep(C, k);
      const e2 = await ref.kmeansStep(C, k);
      expect(Array.from(a2.labels)).toEqual(Array.from(e2.labels));
      expect(maxRelErr(a2.sums, e2.sums)).toBeLessThan(tol);
      expect(Array.from(a2.counts)).toEqual(Array.from(e2.counts));
      expect(maxRelErr(a2.minDist, e2.minDist)).toBeLessThan(20 * tol);
      // derived kernels keep the backend: squares of X through the same graphs
      const sq = X.map((v) => v * v);
      expect(maxRelErr(await ort.derive(sq, d).crossDot(C, k), await ref.derive(sq, d).crossDot(C, k))).toBeLessThan(tol);
    });
  }
});
