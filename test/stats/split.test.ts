import { describe, expect, it } from 'vitest';
import { stratifiedHoldout } from '../../src/stats/split.js';

describe('split', () => {
  it('holds out round(fraction x size) of every stratum, disjoint and complete', () => {
    const strata = Array.from({ length: 4 * 1024 }, (_, i) => Math.floor(i / 1024));
    const { train, test } = stratifiedHoldout(strata, 0.2, 5);
    expect(train.length + test.length).toBe(strata.length);
    expect(new Set([...train, ...test]).size).toBe(strata.length);
    for (let s = 0; s < 4; s++) expect(Array.from(test).filter((i) => strata[i] === s).length).toBe(Math.round(0.2 * 1024));
  });

  it('depends only on the seed', () => {
    const strata = Array.from({ length: 500 }, (_, i) => i % 3);
    expect(Array.from(stratifiedHoldout(strata, 0.3, 1).test)).toEqual(Array.from(stratifiedHoldout(strata, 0.3, 1).test));
    expect(Array.from(stratifiedHoldout(strata, 0.3, 1).test)).not.toEqual(Array.from(stratifiedHoldout(strata, 0.3, 2).test));
  });
});
