import { describe, expect, it } from 'vitest';
import { kdeLogPdf, silvermanFactor } from '../../src/stats/kde.js';
import { kdeLogSumExp } from '../../src/stats/kernels/kde.js';
import { centredWithOnes } from '../../src/stats/kernels/ecme.js';
import { createRng } from '../../src/util/rng.js';
import type { Matrix } from '../../src/stats/types.js';
import { runPythonJson as runPython } from '../helpers/python.js';

const PY = `
import json, sys
import numpy as np
from scipy import stats
c = json.load(sys.stdin)
train = np.array(c['train']).reshape(c['n'], c['d'])
test = np.array(c['test']).reshape(c['m'], c['d'])
kde = stats.gaussian_kde(train.T, bw_method='silverman')
print(json.dumps({'factor': float(kde.factor), 'logpdf': kde.logpdf(test.T).tolist()}))
`;

function randomMatrix(rows: number, cols: number, seed: number, offset: number): Matrix {
  const rng = createRng(seed);
  const data = new Float64Array(rows * cols);
  // correlated columns and a large common offset, like raw query activations
  for (let i = 0; i < rows; i++) {
    let prev = 0;
    for (let j = 0; j < cols; j++) {
      prev = 0.6 * prev + rng.normal() * (1 + j / cols);
      data[i * cols + j] = prev + offset;
    }
  }
  return { data, rows, cols };
}

describe('kde', () => {
  it('matches scipy gaussian_kde(bw_method="silverman").logpdf', async () => {
    for (const [n, d, m] of [[200, 3, 50], [600, 24, 100]] as const) {
      const train = randomMatrix(n, d, 1 + d, 5);
      const test = randomMatrix(m, d, 2 + d, 5);
      const ref = runPython<{ factor: number; logpdf: number[] }>(PY, {
        n, d, m, train: Array.from(train.data), test: Array.from(test.data),
      });
      expect(Math.abs(silvermanFactor(n, d) - ref.factor)).toBeLessThan(1e-14);
      const ours = (await kdeLogPdf(train, test))!;
      // float64 on both sides; 1e-8 nats absolute leaves room for summation order
      ours.forEach((v, i) => expect(Math.abs(v - ref.logpdf[i]!)).toBeLessThan(1e-8));
    }
  });

  it('float32 train x test products (crossPrecision) stay within 1e-4 nats of scipy at the corpus unit shape', async () => {
    // 3277 x 128 training rows and 819 held-out rows, as one 4096 x 128 unit after its 20 % split
    const [n, d, m] = [3277, 128, 819];
    const train = randomMatrix(n, d, 11, 5);
    const test = randomMatrix(m, d, 12, 5);
    const ref = runPython<{ factor: number; logpdf: number[] }>(PY, {
      n, d, m, train: Array.from(train.data), test: Array.from(test.data),
    });
    const ours = (await kdeLogPdf(train, test, { precision: 'float64', crossPrecision: 'float32' }))!;
    const exact = (await kdeLogPdf(train, test, { precision: 'float64' }))!;
    let worst = 0;
    ours.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - ref.logpdf[i]!)); });
    // the float32 rounding of the whitened rows and of |z|^2 / 2 (~d / 2): a few 1e-6 per exponent, 3.1-3.2e-5 worst measured here
    expect(worst).toBeLessThan(1e-4);
    // and the float64 products at the same shape keep scipy's float64 agreement
    exact.forEach((v, i) => expect(Math.abs(v - ref.logpdf[i]!)).toBeLessThan(1e-8));
  }, 120_000);

  it('the fused onnxruntime graph matches the float64 loop kernels, in one block of test rows or several', async () => {
    const [n, d, m] = [300, 8, 70];
    const train = randomMatrix(n, d, 21, 3);
    const test = randomMatrix(m, d, 22, 3);
    const fused = (await kdeLogPdf(train, test))!;
    const loops = (await kdeLogPdf(train, test, { backend: 'js' }))!;
    // two float64 implementations (one product graph, one loop nest): summation order only
    fused.forEach((v, i) => expect(Math.abs(v - loops[i]!)).toBeLessThan(1e-10));
    // the log-sum-exp in blocks of 16 test rows equals one block exactly (rows are independent)
    const mean = new Float64Array(d);
    const U = new Float64Array(d * d);
    for (let j = 0; j < d; j++) U[j * d + j] = 0.7 + 0.01 * j;
    const trainA = centredWithOnes(train.data, n, d, mean, 'float64') as Float64Array;
    const testA = centredWithOnes(test.data, m, d, mean, 'float64') as Float64Array;
    const one = await kdeLogSumExp(trainA, n, testA, m, d, U, 'float32', {});
    const blocks = await kdeLogSumExp(trainA, n, testA, m, d, U, 'float32', {}, 16);
    expect(Array.from(blocks)).toEqual(Array.from(one));
  });

  it('returns null for singular data (a constant column)', async () => {
    const X = randomMatrix(50, 3, 9, 0);
    for (let i = 0; i < 50; i++) X.data[i * 3 + 1] = 2;
    expect(await kdeLogPdf(X, X)).toBeNull();
  });
});
