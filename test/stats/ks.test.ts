import { describe, expect, it } from 'vitest';
import { kolmogorovSf, ksStatisticUniform } from '../../src/stats/ks.js';
import { createRng } from '../../src/util/rng.js';
import { runPythonJson as runPython } from '../helpers/python.js';

const PY = `
import json, sys
import numpy as np
from scipy import stats
cases = json.load(sys.stdin)
out = []
for c in cases:
    r = stats.kstest(np.array(c, dtype=float), 'uniform', method='exact')
    out.append([float(r.statistic), float(r.pvalue)])
print(json.dumps(out))
`;

describe('ks', () => {
  it('matches scipy.stats.kstest (exact) on statistic and p-value across n and effect sizes', () => {
    const rng = createRng(7);
    const cases: number[][] = [];
    // n spans both sides of scipy's n = 140 switch; a power > 1 skews the sample so p ranges from ~1 to ~1e-30
    for (const n of [5, 37, 140, 141, 400, 819, 2000]) {
      for (const power of [1, 1.1, 1.3, 2]) {
        cases.push(Array.from({ length: n }, () => Math.pow(rng.next(), power)));
      }
    }
    const ref = runPython<Array<[number, number]>>(PY, cases);
    cases.forEach((c, i) => {
      const d = ksStatisticUniform(c);
      const p = kolmogorovSf(c.length, d);
      const [dRef, pRef] = ref[i]!;
      expect(Math.abs(d - dRef)).toBeLessThan(1e-12);
      // n <= 140: both exact (Durbin matrix / Smirnov), so 1e-9 relative. n > 140: scipy switches
      // to the Pelz–Good asymptotic series (documented ~1e-5 relative) where we stay exact.
      const tol = c.length <= 140 ? 1e-9 : 5e-5;
      expect(Math.abs(p - pRef)).toBeLessThanOrEqual(tol * pRef + 1e-300);
    });
  });

  it('gives uniform p-values under the null (about 5 % below 0.05)', () => {
    const rng = createRng(3);
    let rejections = 0;
    const draws = 2000;
    for (let r = 0; r < draws; r++) {
      const u = Array.from({ length: 300 }, () => rng.next());
      if (kolmogorovSf(300, ksStatisticUniform(u)) < 0.05) rejections++;
    }
    // binomial(2000, 0.05): sd 0.49 %, so 3.5 %..6.5 % is a 3-sigma band
    expect(rejections / draws).toBeGreaterThan(0.035);
    expect(rejections / draws).toBeLessThan(0.065);
  });
});
