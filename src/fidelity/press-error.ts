import { median } from '../report/aggregate.js';
import { createKernels, type KernelOptions } from '../stats/kernels/index.js';
import { keptCountAt } from './press-scorers.js';

/**
 * What pruning costs the future queries: for each kept set, the relative error of each
 * query's attention output, |o - o_kept| / |o| (o_kept renormalised over the kept keys, as
 * attention does after pruning), and the attention mass the set keeps.
 */

/** The kept indices at each ratio: the top keptCountAt(n, r) of `scores`, ties to the lower index. */
export function keptSets(scores: ArrayLike<number>, ratios: number[]): Int32Array[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return ratios.map((r) => Int32Array.from(order.slice(0, keptCountAt(n, r))));
}

/** Per kept set: the median over queries of the relative output error, and the mean kept mass. */
export interface KeptOutcome {
  err: number;
  mass: number;
}

/**
 * Outcomes of kept sets for attention weights A [nQ, n] (rows sum to 1) over keys with
 * values V [n, d]. Every product is one call: the columns of V, then V masked by each set,
 * then each set's indicator, against the rows of A, give o, each set's unnormalised kept
 * output u and kept mass m of every query at once; o_kept = u / m.
 */
export async function keptOutcomes(A: Float64Array, nQ: number, V: Float64Array, n: number, d: number, sets: Int32Array[], kernel: KernelOptions = {}): Promise<KeptOutcome[]> {
  const B = sets.length;
  const cols = (B + 1) * d + B;
  const C = new Float64Array(cols * n); // [cols, n]: row j holds column j of [V | masked V... | masks]
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) C[j * n + i] = V[i * d + j]!;
  sets.forEach((set, b) => {
    const block = (b + 1) * d;
    for (const i of set) {
      for (let j = 0; j < d; j++) C[(block + j) * n + i] = V[i * d + j]!;
      C[((B + 1) * d + b) * n + i] = 1;
    }
  });
  const kernels = createKernels(A, nQ, n, { ...kernel, threads: kernel.threads ?? 1 });
  const out = await kernels.crossDot(C, cols); // [nQ, cols]
  const errs = new Float64Array(nQ);
  return sets.map((_, b) => {
    let massSum = 0;
    for (let q = 0; q < nQ; q++) {
      const row = q * cols;
      const m = out[row + (B + 1) * d + b]!;
      let diff = 0, norm = 0;
      for (let j = 0; j < d; j++) {
        const o = out[row + j]!;
        const e = o - out[row + (b + 1) * d + j]! / m;
        diff += e * e;
        norm += o * o;
      }
      errs[q] = Math.sqrt(diff / norm);
      massSum += m;
    }
    return { err: median(Array.from(errs)), mass: massSum / nQ };
  });
}

/** Softmax over each row of logits [rows, n] (in place) after scaling by `scale`. */
export function softmaxRows(logits: Float64Array, rows: number, n: number, scale: number): Float64Array {
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * n, (r + 1) * n);
    let mx = -Infinity;
    for (let i = 0; i < n; i++) { row[i]! *= scale; if (row[i]! > mx) mx = row[i]!; }
    let z = 0;
    for (let i = 0; i < n; i++) { row[i] = Math.exp(row[i]! - mx); z += row[i]!; }
    for (let i = 0; i < n; i++) row[i]! /= z;
  }
  return logits;
}
