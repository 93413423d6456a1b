import { describe, expect, it } from 'vitest';
import { fitGroupMixture, headMixture } from '../../src/fidelity/group-mixture.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import { meanAndCovariance } from '../../src/stats/small-linalg.js';
import type { GmmParams } from '../../src/stats/types.js';

/** max |a - b| over two arrays. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('per-head mixtures from the pooled group fit', () => {
  it('with one cluster a head gets exactly its own mean and biased covariance (kvpress statistics)', () => {
    const d = 6, n = 300;
    const { X } = sampleGmm(plantedMixture({ k: 2, d, separation: 5, seed: 1 }), n, 2);
    const rows = X.data as Float64Array;
    const m = headMixture(rows, new Float64Array(n).fill(1), n, d, 1);
    const ref = meanAndCovariance(rows, n, d, 0);
    expect(m.k).toBe(1);
    expect(m.weights[0]).toBeCloseTo(1, 14);
    expect(maxDiff(m.means, ref.mean)).toBeLessThan(1e-12);
    expect(maxDiff(m.covariances, ref.cov)).toBeLessThan(1e-12);
  });

  it('heads visiting shared planted clusters in different proportions get those proportions as weights', async () => {
    const d = 8, n = 3000;
    const shared = plantedMixture({ k: 3, d, separation: 12, seed: 7 });
    // head 0 lives mostly in cluster 0, head 1 in clusters 1 and 2
    const headWeights = [[0.8, 0.1, 0.1], [0.1, 0.45, 0.45]];
    const heads = headWeights.map((w, h) => {
      const p: GmmParams = { ...shared, weights: Float64Array.from(w) };
      return sampleGmm(p, n, 10 + h).X.data as Float64Array;
    });
    const g = await fitGroupMixture(heads, n, d, 5, 0, { backend: 'js' });
    expect(g.bestK).toBe(3);
    for (let h = 0; h < 2; h++) {
      const m = g.perHead[h]!;
      expect(m.k).toBe(3);
      // match fitted clusters to planted ones by nearest mean, then compare weights (sampling sd ~0.01)
      for (let c = 0; c < 3; c++) {
        let best = 0, bestDist = Infinity;
        for (let j = 0; j < 3; j++) {
          const dist = maxDiff(m.means.subarray(j * d, (j + 1) * d), shared.means.subarray(c * d, (c + 1) * d));
          if (dist < bestDist) { bestDist = dist; best = j; }
        }
        expect(m.weights[best]).toBeCloseTo(headWeights[h]![c]!, 1);
      }
    }
  });
});
