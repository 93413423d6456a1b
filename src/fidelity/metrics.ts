import { logSumExp } from '../stats/small-linalg.js';

/**
 * How well a predicted key score matches the true one: the group combination kvpress uses
 * (softmax over keys per query head, then the mean over the GQA group), the recall of the true top keys and the share of true attention mass a prediction keeps.
 */

/** Per key [n]: mean over the heads of softmax over keys of each head's log scores. */
export function groupAttention(logScoresPerHead: Float64Array[]): Float64Array {
  const n = logScoresPerHead[0]!.length;
  const out = new Float64Array(n);
  for (const s of logScoresPerHead) {
    const lse = logSumExp(s);
    for (let i = 0; i < n; i++) out[i]! += Math.exp(s[i]! - lse) / logScoresPerHead.length;
  }
  return out;
}

/** How many keys a keep fraction keeps: round(f n), at least 1. */
export function keptCount(n: number, keep: number): number {
  return Math.max(1, Math.min(n, Math.round(keep * n)));
}

/** Indices of the m largest scores (ties broken by the lower index, so the choice is deterministic). */
export function topIndices(scores: ArrayLike<number>, m: number): Int32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(order.slice(0, m));
}

/** Share of the true top-m keys that the predicted top-m keeps (m = keptCount). */
export function recallAt(truth: ArrayLike<number>, predicted: ArrayLike<number>, keep: number): number {
  const m = keptCount(truth.length, keep);
  const trueTop = new Set(topIndices(truth, m));
  let hits = 0;
  for (const i of topIndices(predicted, m)) if (trueTop.has(i)) hits++;
  return hits / m;
}

/** Share of the total true attention that falls on the keys the prediction keeps. */
export function keptMassAt(truth: ArrayLike<number>, predicted: ArrayLike<number>, keep: number): number {
  let total = 0;
  for (let i = 0; i < truth.length; i++) total += truth[i]!;
  let kept = 0;
  for (const i of topIndices(predicted, keptCount(truth.length, keep))) kept += truth[i]!;
  return kept / total;
}

/**
 * ln(predicted total expected attention / true total), averaged over the group's heads:
 * whether the unnormalised prediction has the right scale (0 = exact, > 0 = too much).
 */
export function logMassRatio(predictedPerHead: Float64Array[], truthPerHead: Float64Array[]): number {
  let s = 0;
  for (let h = 0; h < truthPerHead.length; h++) s += logSumExp(predictedPerHead[h]!) - logSumExp(truthPerHead[h]!);
  return s / truthPerHead.length;
}

