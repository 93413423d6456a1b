/**
 * k-means as scikit-learn's KMeans(n_init=1) runs it to seed a Gaussian mixture: greedy
 * k-means++ (2 + ln k candidates per centre), then Lloyd iterations until the labels stop
 * changing or the squared centre shift falls below tol x mean column variance.
 */
import type { Rng } from '../util/rng.js';
import type { DataKernels } from './kernels/types.js';

export interface KMeansOptions {
  maxIter?: number; // default 300
  tol?: number; // default 1e-4, relative to the mean column variance
}

export interface KMeansResult {
  labels: Int32Array; // [n] in 0..k-1
  centers: Float64Array; // [k, d] in the coordinates of x
  nIter: number;
}

/** Squared distances from every row to k centres via |x|^2 - 2 x.c + |c|^2 (the products run in the kernels). */
async function squaredDistances(kernels: DataKernels, rowNorms: Float64Array, C: Float64Array, k: number): Promise<Float64Array> {
  const { n, d } = kernels;
  const dots = await kernels.crossDot(C, k);
  for (let c = 0; c < k; c++) {
    let cc = 0;
    for (let j = 0; j < d; j++) cc += C[c * d + j] * C[c * d + j];
    for (let i = 0; i < n; i++) dots[i * k + c] = Math.max(0, rowNorms[i] - 2 * dots[i * k + c] + cc);
  }
  return dots;
}

/** k-means on x [n, d] (float64, centred by the caller); `kernels` must be bound to the same rows. */
export async function kmeans(x: Float64Array, kernels: DataKernels, k: number, rng: Rng, opts: KMeansOptions = {}): Promise<KMeansResult> {
  const { n, d } = kernels;
  const maxIter = opts.maxIter ?? 300;
  const rowNorms = new Float64Array(n);
  const colMean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j];
      s += v * v;
      colMean[j] += v;
    }
    rowNorms[i] = s;
  }
  let varSum = 0;
  for (let j = 0; j < d; j++) colMean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) varSum += (x[i * d + j] - colMean[j]) ** 2;
  const tol = ((opts.tol ?? 1e-4) * varSum) / (n * d);

  const centers = await kmeansPlusPlus(x, kernels, rowNorms, k, rng);
  let labels: Int32Array = new Int32Array(n).fill(-1);
  let nIter = 0;
  let strict = false;
  for (let it = 0; it < maxIter; it++) {
    nIter = it + 1;
    // one kernel call: labels for the current centres plus the sums that give the next ones
    const step = await kernels.kmeansStep(centers, k);
    let changed = false;
    for (let i = 0; i < n && !changed; i++) if (step.labels[i] !== labels[i]) changed = true;
    labels = step.labels;
    if (it > 0 && !changed) {
      strict = true;
      break;
    }
    const next = step.sums;
    // an empty cluster takes the point farthest from its centre, as scikit-learn relocates them
    const taken = new Set<number>();
    for (let c = 0; c < k; c++) {
      if (step.counts[c] > 0) {
        for (let j = 0; j < d; j++) next[c * d + j] /= step.counts[c];
        continue;
      }
      let far = -1;
      for (let i = 0; i < n; i++) if (!taken.has(i) && (far < 0 || step.minDist[i] > step.minDist[far])) far = i;
      taken.add(far);
      for (let j = 0; j < d; j++) next[c * d + j] = x[far * d + j];
    }
    let shift = 0;
    for (let t = 0; t < k * d; t++) shift += (next[t] - centers[t]) ** 2;
    centers.set(next);
    if (shift <= tol) break;
  }
  if (!strict) labels = (await kernels.kmeansStep(centers, k)).labels;
  return { labels, centers, nIter };
}

/** Greedy k-means++: each new centre is the best of 2 + floor(ln k) candidates drawn by D^2 weighting. */
async function kmeansPlusPlus(x: Float64Array, kernels: DataKernels, rowNorms: Float64Array, k: number, rng: Rng): Promise<Float64Array> {
  const { n, d } = kernels;
  const trials = 2 + Math.floor(Math.log(k));
  const centers = new Float64Array(k * d);
  const first = rng.int(n);
  centers.set(x.subarray(first * d, (first + 1) * d), 0);
  const closest = await squaredDistances(kernels, rowNorms, centers.subarray(0, d), 1);
  let potential = closest.reduce((a, b) => a + b, 0);
  const cumulative = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    let acc = 0;
    for (let i = 0; i < n; i++) cumulative[i] = acc += closest[i];
    const candidates = new Int32Array(trials);
    for (let t = 0; t < trials; t++) {
      const target = rng.next() * potential;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        // the first index whose cumulative sum reaches the target (numpy searchsorted, side left)
        if (cumulative[mid] < target) lo = mid + 1;
        else hi = mid;
      }
      candidates[t] = lo;
    }
    const C = new Float64Array(trials * d);
    for (let t = 0; t < trials; t++) C.set(x.subarray(candidates[t] * d, (candidates[t] + 1) * d), t * d);
    const D = await squaredDistances(kernels, rowNorms, C, trials);
    let best = 0;
    let bestPot = Infinity;
    for (let t = 0; t < trials; t++) {
      let pot = 0;
      for (let i = 0; i < n; i++) pot += Math.min(closest[i], D[i * trials + t]);
      if (pot < bestPot) {
        bestPot = pot;
        best = t;
      }
    }
    for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i], D[i * trials + best]);
    potential = bestPot;
    centers.set(C.subarray(best * d, (best + 1) * d), c * d);
  }
  return centers;
}
