import { createRng } from '../../src/util/rng.js';

/** A well-conditioned random symmetric positive-definite d x d matrix: B B^T / m + 0.01 I with B [d, d + 3] standard normal. */
export function randomSpd(d: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const m = d + 3;
  const B = Array.from({ length: d * m }, () => rng.normal());
  const A = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let s = 0;
    for (let t = 0; t < m; t++) s += B[i * m + t]! * B[j * m + t]!;
    A[i * d + j] = s / m + (i === j ? 0.01 : 0);
  }
  return A;
}
