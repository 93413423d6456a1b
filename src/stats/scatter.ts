import type { DataKernels } from './kernels/index.js';

/**
 * Column means [d] and scatter matrix [d, d] (sum of (x - mean)(x - mean)^T, not divided) of
 * the rows of X [n, d], for a one-shot covariance: the means in float64 JS, the scatter as one
 * product Xc^T X on the kernels bound to X (= Xc^T Xc, the centred columns summing to zero),
 * symmetrised. Cheaper than `weightedMoments` with unit weights, whose column-block input
 * copies only pay off when EM reuses them over iterations.
 */
export async function meanAndScatter(X: ArrayLike<number>, n: number, d: number, kernels: DataKernels): Promise<{ mean: Float64Array; scatter: Float64Array }> {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += X[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const centred = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) centred[i * d + j] = X[i * d + j]! - mean[j]!;
  const cross = await kernels.weightedSums(centred, d);
  const scatter = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) scatter[a * d + b] = scatter[b * d + a] = 0.5 * (cross[a * d + b]! + cross[b * d + a]!);
  }
  return { mean, scatter };
}
