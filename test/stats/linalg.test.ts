import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { precisionCholeskyWasm } from '../../src/stats/wasm/linalg.js';
import { choleskyLower, covarianceFromPrecisionCholesky, invertLower, precisionCholesky } from '../../src/stats/linalg.js';
import { randomSpd } from '../helpers/random-spd.js';
import { python } from './gmm-python.js';

describe('small float64 linear algebra', () => {
  it('matches numpy/scipy cholesky, triangular inverse and scikit-learn precisions_cholesky (1e-10 relative)', () => {
    const d = 40;
    const A = randomSpd(d, 5);
    const ref = python<{ L: number[]; Linv: number[]; U: number[]; logdet: number }>(`
from scipy import linalg
S = A('A', ${d}, ${d})
L = linalg.cholesky(S, lower=True)
Linv = linalg.solve_triangular(L, np.eye(${d}), lower=True)
out(L=L.ravel(), Linv=Linv.ravel(), U=Linv.T.ravel(), logdet=float(np.linalg.slogdet(S)[1]))
`, { A });
    const L = choleskyLower(A, d)!;
    const Linv = invertLower(L, d);
    const f = precisionCholesky(A, d)!;
    const scale = (xs: number[]) => Math.max(...xs.map(Math.abs));
    const maxErr = (a: Float64Array, b: number[]) => Math.max(...b.map((v, i) => Math.abs(a[i] - v))) / scale(b);
    expect(maxErr(L, ref.L)).toBeLessThan(1e-10);
    expect(maxErr(Linv, ref.Linv)).toBeLessThan(1e-10);
    expect(maxErr(f.U, ref.U)).toBeLessThan(1e-10);
    expect(Math.abs(f.logDetU - -0.5 * ref.logdet)).toBeLessThan(1e-10 * Math.abs(ref.logdet));
    expect(maxErr(covarianceFromPrecisionCholesky(f.U, d), Array.from(A))).toBeLessThan(1e-10);
  });

  it('reports a matrix that is not positive definite as null instead of NaN', () => {
    const d = 3;
    const singular = Float64Array.from([1, 1, 0, 1, 1, 0, 0, 0, 1]); // rank 2
    const indefinite = Float64Array.from([1, 2, 0, 2, 1, 0, 0, 0, 1]);
    expect(choleskyLower(singular, d)).toBeNull();
    expect(precisionCholesky(indefinite, d)).toBeNull();
    expect(precisionCholesky(Float64Array.from([1, 0, 0, 0, NaN, 0, 0, 0, 1]), d)).toBeNull();
  });
});

describe('WebAssembly precision factor', () => {
  it('matches scikit-learn precisions_cholesky (1e-10 relative) at odd and even d, lower triangle zero', () => {
    for (const d of [1, 7, 40, 128]) {
      const A = randomSpd(d, 11 + d);
      const ref = python<{ U: number[]; logdet: number }>(`
from scipy import linalg
S = A('A', ${d}, ${d})
L = linalg.cholesky(S, lower=True)
U = linalg.solve_triangular(L, np.eye(${d}), lower=True).T
out(U=U.ravel(), logdet=float(np.linalg.slogdet(S)[1]))
`, { A });
      const f = precisionCholeskyWasm(A, d)!;
      const scale = Math.max(...ref.U.map(Math.abs));
      expect(Math.max(...ref.U.map((v, i) => Math.abs(f.U[i] - v))) / scale).toBeLessThan(1e-10);
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) expect(f.U[i * d + j]).toBe(0);
      expect(Math.abs(f.logDetU - -0.5 * ref.logdet)).toBeLessThan(1e-10 * Math.max(1, Math.abs(ref.logdet)));
    }
  });

  it('reports singular, indefinite, NaN and Inf matrices as null, and recovers afterwards', () => {
    const d = 3;
    expect(precisionCholeskyWasm(Float64Array.from([1, 1, 0, 1, 1, 0, 0, 0, 1]), d)).toBeNull();
    expect(precisionCholeskyWasm(Float64Array.from([1, 2, 0, 2, 1, 0, 0, 0, 1]), d)).toBeNull();
    expect(precisionCholeskyWasm(Float64Array.from([1, 0, 0, 0, NaN, 0, 0, 0, 1]), d)).toBeNull();
    expect(precisionCholeskyWasm(Float64Array.from([1, 0, 0, 0, Infinity, 0, 0, 0, 1]), d)).toBeNull();
    const f = precisionCholeskyWasm(Float64Array.from([4, 0, 0, 0, 9, 0, 0, 0, 16]), d)!;
    expect(Array.from(f.U)).toEqual([0.5, 0, 0, 0, 1 / 3, 0, 0, 0, 0.25]);
  });

  it('is the assembly of linalg.wat as committed (run `npm run build:wasm` after editing the .wat)', async () => {
    const { assembleModule, generatedPath } = (await import('../../scripts/build-wasm.mjs')) as {
      assembleModule(p: string): Promise<string>;
      generatedPath(p: string): string;
    };
    const wat = fileURLToPath(new URL('../../src/stats/wasm/linalg.wat', import.meta.url));
    expect(readFileSync(generatedPath(wat), 'utf8')).toBe(await assembleModule(wat));
  });
});
