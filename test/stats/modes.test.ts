import { describe, expect, it } from 'vitest';
import { countModes } from '../../src/stats/modes.js';
import type { GmmParams } from '../../src/stats/types.js';

/** Two equal-weight unit-variance components in d dims, `sep` apart along the first axis. */
function pair(sep: number, d: number, extra?: { mean: number[]; var: number }): GmmParams {
  const k = extra ? 3 : 2;
  const means = new Float64Array(k * d);
  means[d] = sep;
  const covariances = new Float64Array(k * d).fill(1);
  if (extra) { extra.mean.forEach((v, j) => (means[2 * d + j] = v)); covariances.fill(extra.var, 2 * d, 3 * d); }
  return { k, d, covariance: 'diag', weights: new Float64Array(k).fill(1 / k), means, covariances };
}

describe('modes', () => {
  // equal-weight, equal-variance normals are bimodal exactly when the means are > 2 sd apart
  it('merges two equal components 1.8 sd apart and keeps them apart at 2.2 sd (d = 6)', () => {
    expect(countModes(pair(1.8, 6)).nModes).toBe(1);
    expect(countModes(pair(2.2, 6)).nModes).toBe(2);
  });

  it('counts a far third component as its own mode and groups the close pair', () => {
    const res = countModes(pair(1.0, 4, { mean: [0, 30, 0, 0], var: 1 }));
    expect(res.nModes).toBe(2);
    expect(res.group[0]).toBe(res.group[1]);
    expect(res.group[2]).not.toBe(res.group[0]);
  });

  it('treats a narrow spike on a wide component as one mode when it sits inside it, full covariance', () => {
    const d = 3;
    const params: GmmParams = {
      k: 2, d, covariance: 'full', weights: Float64Array.from([0.5, 0.5]),
      means: Float64Array.from([0, 0, 0, 0.2, 0, 0]),
      covariances: Float64Array.from([4, 0, 0, 0, 4, 0, 0, 0, 4, 0.5, 0.1, 0, 0.1, 0.5, 0, 0, 0, 0.5]),
    };
    expect(countModes(params).nModes).toBe(1);
  });
});
