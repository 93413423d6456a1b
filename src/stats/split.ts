import { createRng } from '../util/rng.js';

/**
 * Seeded held-out split, stratified: each stratum (e.g. the query head a row came from)
 * gives round(fraction x its size) rows to the test part, so every stratum is represented.
 */
export interface HoldoutSplit {
  /** row indices of the training part, ascending */
  train: Int32Array;
  /** row indices of the held-out part, ascending */
  test: Int32Array;
}

/** Splits rows 0..strata.length-1; `strata[i]` is row i's stratum label. */
export function stratifiedHoldout(strata: ArrayLike<number>, fraction: number, seed: number): HoldoutSplit {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`holdout fraction must be in (0, 1), got ${fraction}`);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < strata.length; i++) {
    const g = groups.get(strata[i]!);
    if (g) g.push(i);
    else groups.set(strata[i]!, [i]);
  }
  const rng = createRng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const label of [...groups.keys()].sort((a, b) => a - b)) {
    const rows = groups.get(label)!;
    for (let i = rows.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = rows[i]!; rows[i] = rows[j]!; rows[j] = t;
    }
    const nTest = rows.length < 2 ? 0 : Math.min(rows.length - 1, Math.max(1, Math.round(fraction * rows.length)));
    for (let i = 0; i < rows.length; i++) (i < nTest ? test : train).push(rows[i]!);
  }
  return { train: Int32Array.from(train.sort((a, b) => a - b)), test: Int32Array.from(test.sort((a, b) => a - b)) };
}
