/**
 * The kernels in plain float64 loops: the reference the onnxruntime graphs are tested
 * against, and the path for small inputs where session calls cost more than the work.
 */
import type { DataKernels, KMeansStep } from './types.js';

/** Binds the float64 loop kernels to X [n, d] (copied to float64 once). */
export function createJsKernels(X: Float32Array | Float64Array, n: number, d: number): DataKernels {
  const x = X instanceof Float64Array ? X : Float64Array.from(X);
  const rowNorms = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) rowNorms[i] += x[i * d + j] ** 2;

  const whitenInto = (W: Float64Array, b: Float64Array, k: number, visit: (i: number, c: number, z: Float64Array) => void) => {
    const m = k * d;
    const z = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      z.set(b);
      for (let j = 0; j < m; j++) z[j] = -z[j];
      const row = i * d;
      // z += x_i W, row by row of W so the inner loop runs over contiguous memory
      for (let a = 0; a < d; a++) {
        const xa = x[row + a];
        if (xa === 0) continue;
        const wRow = a * m;
        for (let j = 0; j < m; j++) z[j] += xa * W[wRow + j];
      }
      for (let c = 0; c < k; c++) visit(i, c, z);
    }
  };

  const crossDot = async (C: Float64Array, k: number): Promise<Float64Array> => {
    const out = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += x[i * d + j] * C[c * d + j];
        out[i * k + c] = s;
      }
    }
    return out;
  };

  return {
    n,
    d,
    async mahalanobis(U, b, k) {
      // the stacked factors side by side, W = [U_1 .. U_k] as [d, k*d]
      const W = new Float64Array(d * k * d);
      for (let c = 0; c < k; c++) for (let a = 0; a < d; a++) W.set(U.subarray((c * d + a) * d, (c * d + a + 1) * d), a * k * d + c * d);
      const sq = new Float64Array(n * k);
      whitenInto(W, b, k, (i, c, z) => {
        let s = 0;
        for (let j = c * d; j < (c + 1) * d; j++) s += z[j] * z[j];
        sq[i * k + c] = s;
      });
      return sq;
    },
    async whiten(W, b, k) {
      const out = new Float64Array(n * k * d);
      whitenInto(W, b, k, (i, c, z) => {
        if (c === 0) out.set(z, i * k * d);
      });
      return out;
    },
    async weightedMoments(R, sumR, k) {
      const means = new Float64Array(k * d);
      const scatter = new Float64Array(k * d * d);
      const diff = new Float64Array(d);
      for (let c = 0; c < k; c++) {
        const mean = means.subarray(c * d, (c + 1) * d);
        for (let i = 0; i < n; i++) {
          const r = R[i * k + c];
          for (let j = 0; j < d; j++) mean[j] += r * x[i * d + j];
        }
        for (let j = 0; j < d; j++) mean[j] /= sumR[c];
        const s = scatter.subarray(c * d * d, (c + 1) * d * d);
        for (let i = 0; i < n; i++) {
          const r = R[i * k + c];
          if (r === 0) continue;
          for (let j = 0; j < d; j++) diff[j] = x[i * d + j] - mean[j];
          for (let a = 0; a < d; a++) {
            const ra = r * diff[a];
            for (let bb = a; bb < d; bb++) s[a * d + bb] += ra * diff[bb];
          }
        }
        for (let a = 0; a < d; a++) for (let bb = 0; bb < a; bb++) s[a * d + bb] = s[bb * d + a];
      }
      return { means, scatter };
    },
    crossDot,
    async gaussianLogits(mu, S, k, linScale, quadScale) {
      const out = new Float64Array(n * k);
      const sx = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        const row = i * d;
        for (let c = 0; c < k; c++) {
          let lin = 0, quad = 0;
          sx.fill(0);
          for (let a = 0; a < d; a++) {
            const xa = x[row + a];
            lin += mu[c * d + a] * xa;
            const base = (c * d + a) * d;
            for (let b = 0; b < d; b++) sx[b] += xa * S[base + b];
          }
          for (let b = 0; b < d; b++) quad += sx[b] * x[row + b];
          out[i * k + c] = linScale * lin + quadScale * quad;
        }
      }
      return out;
    },
    async logSumExpDot(C, k, scale, offsets) {
      const dots = await crossDot(C, k);
      if (offsets) for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) dots[i * k + c] += offsets[c];
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let mx = -Infinity;
        for (let c = 0; c < k; c++) mx = Math.max(mx, scale * dots[i * k + c]);
        let s = 0;
        for (let c = 0; c < k; c++) s += Math.exp(scale * dots[i * k + c] - mx);
        out[i] = mx + Math.log(s);
      }
      return out;
    },
    async weightedSums(R, k) {
      const out = new Float64Array(k * d);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < k; c++) {
          const r = R[i * k + c];
          if (r === 0) continue;
          for (let j = 0; j < d; j++) out[c * d + j] += r * x[i * d + j];
        }
      }
      return out;
    },
    derive(Y, dy) {
      return createJsKernels(Y, n, dy);
    },
    async kmeansStep(C, k): Promise<KMeansStep> {
      const dots = await crossDot(C, k);
      const half = new Float64Array(k);
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) half[c] += 0.5 * C[c * d + j] ** 2;
      const labels = new Int32Array(n);
      const minDist = new Float64Array(n);
      const sums = new Float64Array(k * d);
      const counts = new Float64Array(k);
      for (let i = 0; i < n; i++) {
        let best = 0;
        let bestScore = -Infinity;
        for (let c = 0; c < k; c++) {
          const score = dots[i * k + c] - half[c];
          if (score > bestScore) [best, bestScore] = [c, score];
        }
        labels[i] = best;
        minDist[i] = Math.max(0, rowNorms[i] - 2 * bestScore);
        counts[best]++;
        for (let j = 0; j < d; j++) sums[best * d + j] += x[i * d + j];
      }
      return { labels, minDist, sums, counts };
    },
  };
}
