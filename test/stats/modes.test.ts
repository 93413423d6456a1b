import { describe, expect, it } from 'vitest';
import { countModes } from '../../src/stats/modes.js';
import type { GmmParams } from '../../src/stats/types.js';
import { plantedMixture } from '../../src/stats/gmm-sample.js';
import { choleskyLower, precisionCholesky } from '../../src/stats/linalg.js';
import { backSolve, forwardSolve } from '../../src/stats/small-linalg.js';
import { createRng } from '../../src/util/rng.js';

/**
 * The mode count written plainly (the implementation before its early exits and WebAssembly
 * solves, on the JS Cholesky): every pair's log density at all gridPoints + 1 ridgeline points,
 * local maxima counted over the whole grid, pairs merged by union-find in the same order.
 */
function referenceModes(p: GmmParams, gridPoints = 24): { nModes: number; group: number[] } {
  const { k, d } = p;
  const comps = Array.from({ length: k }, (_, c) => {
    const cov = new Float64Array(d * d);
    if (p.covariance === 'full') cov.set(p.covariances.subarray(c * d * d, (c + 1) * d * d));
    else for (let j = 0; j < d; j++) cov[j * d + j] = p.covariances[c * d + j]!;
    const L = choleskyLower(cov, d)!;
    const U = precisionCholesky(cov, d)!.U;
    const P = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let s = 0;
      for (let m = 0; m < d; m++) s += U[i * d + m]! * U[j * d + m]!;
      P[i * d + j] = s;
    }
    const mean = p.means.slice(c * d, (c + 1) * d);
    const Pmu = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) Pmu[i]! += P[i * d + j]! * mean[j]!;
    let logDet = 0;
    for (let i = 0; i < d; i++) logDet += 2 * Math.log(L[i * d + i]!);
    return { L, P, Pmu, mean, logDet };
  });
  type Comp = (typeof comps)[number];
  const logN = (x: Float64Array, c: Comp) => {
    const z = forwardSolve(c.L, d, x.map((v, j) => v - c.mean[j]!), new Float64Array(d));
    return -0.5 * (d * Math.log(2 * Math.PI) + c.logDet + z.reduce((s, v) => s + v * v, 0));
  };
  const unimodal = (a: number, b: number): boolean => {
    const A = comps[a]!, B = comps[b]!;
    const wa = p.weights[a]! / (p.weights[a]! + p.weights[b]!), wb = 1 - wa;
    const values: number[] = [];
    for (let g = 0; g <= gridPoints; g++) {
      const t = g / gridPoints;
      const M = A.P.map((v, i) => (1 - t) * v + t * B.P[i]!);
      const rhs = A.Pmu.map((v, i) => (1 - t) * v + t * B.Pmu[i]!);
      const L = choleskyLower(M, d);
      if (!L) return false;
      const x = backSolve(L, d, forwardSolve(L, d, rhs, new Float64Array(d)), new Float64Array(d));
      const la = Math.log(wa) + logN(x, A), lb = Math.log(wb) + logN(x, B);
      const m = Math.max(la, lb);
      values.push(m + Math.log(Math.exp(la - m) + Math.exp(lb - m)));
    }
    let maxima = 0;
    for (let g = 0; g < values.length; g++) {
      const left = g === 0 ? -Infinity : values[g - 1]!, right = g === values.length - 1 ? -Infinity : values[g + 1]!;
      if (values[g]! > left && values[g]! >= right) maxima++;
    }
    return maxima <= 1;
  };
  const parent = Array.from({ length: k }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) if (find(a) !== find(b) && unimodal(a, b)) parent[find(a)] = find(b);
  const ids = new Map<number, number>();
  const group = Array.from({ length: k }, (_, c) => {
    const r = find(c);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
  return { nModes: ids.size, group };
}

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

  it('gives the plain full-grid count and groups on planted mixtures from one mode to all apart, full and diagonal', () => {
    const rng = createRng(7);
    const counts: number[] = [];
    let cases = 0;
    for (let t = 0; t < 24; t++) {
      const k = 2 + (t % 5), d = 8 + 8 * (t % 3);
      // separations around where the pairs turn bimodal, so both answers occur
      const full = plantedMixture({ k, d, separation: 1 + 5 * rng.next(), anisotropy: 0.7, weights: Array.from({ length: k }, () => 0.5 + rng.next()), seed: 100 + t });
      const diag: GmmParams = { ...full, covariance: 'diag', covariances: Float64Array.from({ length: k * d }, (_, i) => full.covariances[Math.floor(i / d) * d * d + (i % d) * (d + 1)]!) };
      for (const params of [full, diag]) {
        const got = countModes(params), want = referenceModes(params);
        expect({ nModes: got.nModes, group: Array.from(got.group) }).toEqual(want);
        counts.push(want.nModes / k);
        cases++;
      }
    }
    expect(cases).toBe(48);
    // the cases are not all merged or all apart
    expect(counts.filter((c) => c === 1).length).toBeGreaterThan(4);
    expect(counts.filter((c) => c < 1 && c > 0.3).length).toBeGreaterThan(4);
  });
});
