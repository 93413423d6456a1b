import { describe, expect, it } from 'vitest';
import { createRng, seedFrom } from '../../src/util/rng.js';

describe('rng', () => {
  it('is deterministic by seed and differs across seeds', () => {
    const a = createRng(7), b = createRng(7), c = createRng(8);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('draws uniforms with the right moments (n = 200k, 5-sigma bounds)', () => {
    const rng = createRng(1);
    const n = 200_000;
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) { const u = rng.next(); expect(u).toBeGreaterThanOrEqual(0); expect(u).toBeLessThan(1); s += u; s2 += u * u; }
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(0.003);
  });

  it('draws normals with mean 0, variance 1 and kurtosis 3 (n = 200k)', () => {
    const rng = createRng(2);
    const n = 200_000;
    let s = 0, s2 = 0, s4 = 0;
    for (let i = 0; i < n; i++) { const z = rng.normal(); s += z; s2 += z * z; s4 += z ** 4; }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.1);
  });

  it('int(n) is unbiased over a small range', () => {
    const rng = createRng(3);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[rng.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('fillNormal returns exactly the values of as many normal() calls, cached value included', () => {
    // odd and even lengths, starting with and without a cached value, then normal() after it
    for (const lengths of [[5], [4, 3], [1, 1, 2], [0, 7], [1000, 1, 999]]) {
      const bulk = createRng(11), single = createRng(11);
      bulk.normal(); single.normal(); // leaves a cached sin value on both
      for (const len of lengths) {
        const got = Array.from(bulk.fillNormal(new Float64Array(len)));
        const want = Array.from({ length: len }, () => single.normal());
        expect(got).toEqual(want);
        expect(bulk.normal()).toBe(single.normal());
        expect(bulk.next()).toBe(single.next());
      }
    }
  });

  it('seedFrom separates parts', () => {
    expect(seedFrom(0, 'ab', 1)).not.toBe(seedFrom(0, 'a', 'b1'));
    expect(seedFrom(0, 'vt', 3)).toBe(seedFrom(0, 'vt', 3));
  });
});
