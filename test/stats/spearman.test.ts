import { describe, expect, it } from 'vitest';
import { averageRanks, spearman } from '../../src/stats/spearman.js';
import { createRng } from '../../src/util/rng.js';
import { runPythonJson as runPython } from '../helpers/python.js';

const PY = `
import json, sys
from scipy import stats
cases = json.load(sys.stdin)
print(json.dumps([float(stats.spearmanr(x, y).correlation) for x, y in cases]))
`;

describe('spearman', () => {
  it('gives average ranks to ties', () => {
    expect(Array.from(averageRanks([3, 1, 3, 2, 3]))).toEqual([4, 1, 4, 2, 4]);
  });

  it('matches scipy.stats.spearmanr on heavily tied integer data (like best K) and on continuous data', () => {
    const rng = createRng(11);
    const cases: Array<[number[], number[]]> = [];
    for (const n of [5, 20, 64, 300]) {
      const x = Array.from({ length: n }, () => 1 + rng.int(6));
      cases.push([x, x.map((v) => v + rng.int(3))]);
      const u = Array.from({ length: n }, () => rng.normal());
      cases.push([u, u.map((v) => v * v + rng.normal())]);
    }
    const ref = runPython<number[]>(PY, cases);
    // both are a Pearson correlation of the same ranks: agreement to rounding (1e-12)
    cases.forEach(([x, y], i) => expect(Math.abs(spearman(x, y) - ref[i]!)).toBeLessThan(1e-12));
  });

  it('is NaN for a constant sample', () => {
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});
