import { describe, expect, it } from 'vitest';
import { drawWeightInto, halfNormalTable, normalQuantile } from '../../src/model/tiny/tiny-weights.js';
import { halfToFloat32 } from '../../src/npz/index.js';
import { createRng } from '../../src/util/rng.js';
import { requirePython, runPythonJson } from '../helpers/python.js';

describe('float16 weight draws (inverse-CDF table)', () => {
  requirePython(['numpy', 'scipy']);

  it("the table is scipy's norm.ppf on the 2^16 grid, scaled and rounded to half by numpy", () => {
    const cases = [
      { offset: 0, scale: 1 },
      { offset: 0, scale: 1 / 64 }, // 1/sqrt(4096): Llama-8B's q/k/v/gate/up scale
      { offset: 1, scale: 0.15 }, // norm weights
    ];
    const want = runPythonJson<number[][]>(
      `import json, sys
import numpy as np
from scipy.stats import norm
cases = json.loads(sys.stdin.read())
p = (np.arange(65536) + 0.5) / 65536
print(json.dumps([(c['offset'] + c['scale'] * norm.ppf(p)).astype(np.float16).view(np.uint16).tolist() for c in cases]))`,
      cases,
    );
    cases.forEach((c, k) => {
      const table = halfNormalTable(c.offset, c.scale);
      let differ = 0;
      for (let i = 0; i < 65536; i++) {
        if (table[i] === want[k]![i]) continue;
        // a value within 1e-9 of a rounding boundary may round the other way: allow 1 ulp, rarely
        expect(Math.abs(table[i]! - want[k]![i]!)).toBe(1);
        differ++;
      }
      expect(differ).toBeLessThan(10);
    });
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
  });

  it('draws have the spec mean and standard deviation, and reach the tails (±4.33σ)', () => {
    const n = 1 << 20;
    const out = drawWeightInto({ name: 'w', shape: [n], init: { kind: 'gaussian', std: 0.5 } }, createRng(3), 'float16', new Uint16Array(n));
    const x = halfToFloat32(out);
    let sum = 0, sq = 0;
    for (const v of x) { sum += v; sq += v * v; }
    const mean = sum / n, sd = Math.sqrt(sq / n - mean * mean);
    // standard errors at n = 2^20: mean 0.5/1024, sd 0.5/1448
    expect(Math.abs(mean)).toBeLessThan(4 * 0.5 / 1024);
    expect(Math.abs(sd - 0.5)).toBeLessThan(4 * 0.5 / 1448 + 1e-4);
    // each entry has probability 2^-16: the extremes turn up ~16 times in 2^20 draws
    const lo = halfNormalTable(0, 0.5)[0]!, hi = halfNormalTable(0, 0.5)[65535]!;
    expect(out.includes(lo) && out.includes(hi)).toBe(true);
    expect(x.reduce((a, v) => Math.max(a, v), 0)).toBeCloseTo(0.5 * 4.33, 1);
  });
});
