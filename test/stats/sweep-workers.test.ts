// A sweep spread over worker threads must give exactly the fits of the same sweep run one K
// after another in this thread (each K is seeded on its own), and fail the same way.
import { afterAll, describe, expect, it } from 'vitest';
import { GmmDataError, sweepK, type Matrix } from '../../src/stats/gmm.js';
import { plantedMixture, sampleGmm } from '../../src/stats/gmm-sample.js';
import { closeSweepWorkers, sweepWorkerCount, sweepWorkersAvailable } from '../../src/stats/sweep-pool.js';

afterAll(closeSweepWorkers);

function planted(n: number, d: number, k: number, seed: number): Matrix {
  return sampleGmm(plantedMixture({ k, d, separation: 3, anisotropy: 0.5, seed }), n, seed + 1, 'float32').X;
}

describe('sweep on worker threads', () => {
  it('finds the compiled worker (the test setup builds dist/)', () => {
    expect(sweepWorkersAvailable()).toBe(true);
  });

  it('gives bit-identical fits to the in-thread sweep, full and diag, in K order', async () => {
    const X = planted(1500, 12, 3, 4);
    for (const covariance of ['full', 'diag'] as const) {
      const opts = { kMax: 6, covariance, seed: 3, threads: 2 };
      const inThread = await sweepK(X, { ...opts, workers: 1, threads: 1 });
      await closeSweepWorkers();
      const onWorkers = await sweepK(X, { ...opts, workers: 2 });
      expect(sweepWorkerCount()).toBe(2);
      expect(onWorkers.fits.map((f) => f.kRequested)).toEqual([1, 2, 3, 4, 5, 6]);
      for (let i = 0; i < inThread.fits.length; i++) {
        const a = inThread.fits[i];
        const b = onWorkers.fits[i];
        expect(b.meanLogLikelihood).toBe(a.meanLogLikelihood);
        expect(b.bic).toBe(a.bic);
        expect(b.nIter).toBe(a.nIter);
        expect(Array.from(b.means)).toEqual(Array.from(a.means));
        expect(Array.from(b.precisionsCholesky)).toEqual(Array.from(a.precisionsCholesky));
      }
      expect(onWorkers.bestK).toBe(inThread.bestK);
    }
  });

  it('runs two sweeps at once on the shared workers without mixing their data', async () => {
    const A = planted(800, 6, 2, 10);
    const B = planted(900, 6, 4, 20);
    const [a, b] = await Promise.all([sweepK(A, { kMax: 5, workers: 2 }), sweepK(B, { kMax: 5, workers: 2 })]);
    const a1 = await sweepK(A, { kMax: 5, workers: 1, threads: 1 });
    const b1 = await sweepK(B, { kMax: 5, workers: 1, threads: 1 });
    expect(a.fits.map((f) => f.meanLogLikelihood)).toEqual(a1.fits.map((f) => f.meanLogLikelihood));
    expect(b.fits.map((f) => f.meanLogLikelihood)).toEqual(b1.fits.map((f) => f.meanLogLikelihood));
  });

  it('rejects with the GmmDataError of the smallest failing K, as the in-thread sweep does', async () => {
    const X = planted(5, 2, 1, 7); // K 6..8 cannot be fitted to 5 rows
    const errorOf = async (workers: number) => {
      try {
        await sweepK(X, { kMin: 6, kMax: 8, workers, threads: 2 });
      } catch (err) {
        return err;
      }
      return null;
    };
    const inThread = await errorOf(1);
    const onWorkers = await errorOf(2);
    expect(inThread).toBeInstanceOf(GmmDataError);
    expect(onWorkers).toBeInstanceOf(GmmDataError);
    expect((onWorkers as GmmDataError).problem).toBe((inThread as GmmDataError).problem);
    expect((onWorkers as GmmDataError).message).toBe((inThread as GmmDataError).message);
    expect((onWorkers as GmmDataError).message).toMatch(/cannot fit 6 components to 5 rows/);
  });
});

describe('sweep workers that die', () => {
  it('rejects the running and queued fits instead of hanging when every worker is gone', async () => {
    const X = planted(3000, 24, 3, 31);
    await closeSweepWorkers();
    const sweep = sweepK(X, { kMax: 8, workers: 2 });
    // the workers exist as soon as the sweep is dispatched; end them mid-sweep
    await new Promise((r) => setTimeout(r, 50));
    expect(sweepWorkerCount()).toBe(2);
    await closeSweepWorkers();
    await expect(sweep).rejects.toThrow(/GMM worker exited/);
    // and the next sweep starts fresh workers
    const again = await sweepK(planted(400, 4, 2, 32), { kMax: 3, workers: 2 });
    expect(again.fits).toHaveLength(3);
  });
});
