import { describe, expect, it } from 'vitest';
import { meanAndScatter } from '../../src/stats/scatter.js';
import { createKernels } from '../../src/stats/kernels/index.js';
import { createRng } from '../../src/util/rng.js';

describe('meanAndScatter', () => {
  it('equals the two-pass float64 mean and scatter written out, on onnxruntime float64 and the js kernels', async () => {
    const n = 500, d = 24;
    const rng = createRng(5);
    // a large common offset (as raw query activations): the centring must not lose it to cancellation
    const X = Float64Array.from({ length: n * d }, (_, t) => 40 + (1 + (t % d) / d) * rng.normal());
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += X[i * d + j]! / n;
    const ref = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) ref[a * d + b]! += (X[i * d + a]! - mean[a]!) * (X[i * d + b]! - mean[b]!);
    for (const backend of ['ort', 'js'] as const) {
      const got = await meanAndScatter(X, n, d, createKernels(X, n, d, { backend, precision: 'float64', threads: 1 }));
      // float64 on both sides, summation order apart: 1e-12 relative to the largest entry
      const scale = Math.max(...ref.map(Math.abs));
      got.mean.forEach((v, j) => expect(Math.abs(v - mean[j]!)).toBeLessThan(1e-12 * 40));
      got.scatter.forEach((v, t) => expect(Math.abs(v - ref[t]!)).toBeLessThan(1e-12 * scale));
      for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) expect(got.scatter[a * d + b]).toBe(got.scatter[b * d + a]);
    }
  });
});
