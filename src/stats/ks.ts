/**
 * One-sample Kolmogorov–Smirnov test against Uniform(0, 1), with p-values from the exact
 * finite-n distribution of D_n (the same case split as scipy.stats.kstwo, so they agree).
 */
import { matMulWasm } from './wasm/linalg.js';

/** Two-sided KS statistic D_n = sup |F_n(u) - u| of values in [0, 1]; the input is not modified. */
export function ksStatisticUniform(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) throw new RangeError('ks statistic needs at least one value');
  const sorted = Float64Array.from(values).sort();
  let d = 0;
  for (let i = 0; i < n; i++) {
    const u = sorted[i]!;
    const above = (i + 1) / n - u;
    const below = u - i / n;
    if (above > d) d = above;
    if (below > d) d = below;
  }
  return d;
}

/**
 * P(D_n >= d) for the two-sided statistic of n i.i.d. uniforms.
 * Exact: Ruben–Gambino at the ends, Durbin's matrix (Marsaglia–Tsang–Wang 2003) in the body,
 * and 2 x the exact one-sided Smirnov tail where n d^2 >= 2.2 (n > 140), 4 (n <= 140) or d >= 0.5:
 * there the overlap of the two one-sided events is below 1e-7 of the value (scipy does the same).
 */
export function kolmogorovSf(n: number, d: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`kolmogorov distribution needs an integer n >= 1, got ${n}`);
  if (!(d > 0)) return 1;
  if (d >= 1) return 0;
  const t = n * d;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    // P(D_n < d) = n! / n^n (2t - 1)^n for 1/(2n) <= d <= 1/n
    const logCdf = logFactorial(n) - n * Math.log(n) + n * Math.log(2 * t - 1);
    return clip01(1 - Math.exp(logCdf));
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - d, n));
  if (d >= 0.5) return clip01(2 * smirnovSf(n, d));
  const nd2 = t * d;
  if (nd2 >= (n <= 140 ? 4 : 2.2)) return clip01(2 * smirnovSf(n, d));
  return clip01(1 - durbinCdf(n, d));
}

/**
 * Exact one-sided tail P(D_n^+ >= d) (Birnbaum–Tingey / Smirnov's formula), summed in logs
 * so n in the tens of thousands neither overflows nor underflows.
 */
export function smirnovSf(n: number, d: number): number {
  if (!(d > 0)) return 1;
  if (d >= 1) return 0;
  const jMax = Math.floor(n * (1 - d) + 1e-12);
  const logN = logFactorial(n);
  let sum = 0;
  for (let j = 0; j <= jMax; j++) {
    const a = 1 - d - j / n;
    const b = d + j / n;
    if (a <= 0) {
      if (n - j === 0) sum += Math.exp(logN - logFactorial(j) + (j - 1) * Math.log(b)); // 0^0 = 1
      continue;
    }
    const logTerm = logN - logFactorial(j) - logFactorial(n - j) + (n - j) * Math.log(a) + (j - 1) * Math.log(b);
    sum += Math.exp(logTerm);
  }
  return d * sum;
}

/** P(D_n < d) by Durbin's matrix method, with the exponent kept separately against overflow. */
function durbinCdf(n: number, d: number): number {
  const k = Math.floor(n * d) + 1;
  const m = 2 * k - 1;
  const h = k - n * d;
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) H[i * m + j] = i - j + 1 >= 0 ? 1 : 0;
  for (let i = 0; i < m; i++) {
    H[i * m] -= Math.pow(h, i + 1);
    H[(m - 1) * m + i] -= Math.pow(h, m - i);
  }
  if (2 * h - 1 > 0) H[(m - 1) * m] += Math.pow(2 * h - 1, m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const span = i - j + 1;
      if (span > 0) {
        let f = 1;
        for (let g = 2; g <= span; g++) f *= g;
        H[i * m + j] /= f;
      }
    }
  }
  const { matrix: Q, log2Scale } = matrixPower(H, m, n);
  // result = Q[k-1][k-1] * n! / n^n, all in log2 to survive large n
  const q = Q[(k - 1) * m + (k - 1)]!;
  if (q <= 0) return 0;
  const log2 = Math.log2(q) + log2Scale + (logFactorial(n) - n * Math.log(n)) / Math.LN2;
  return Math.pow(2, log2);
}

/** A^p for a square m x m matrix, renormalising by powers of two; returns value = matrix * 2^log2Scale. */
function matrixPower(A: Float64Array, m: number, p: number): { matrix: Float64Array; log2Scale: number } {
  if (p === 1) return { matrix: A.slice(), log2Scale: 0 };
  const half = matrixPower(A, m, Math.floor(p / 2));
  let product = multiply(half.matrix, half.matrix, m);
  let scale = 2 * half.log2Scale;
  if (p % 2 === 1) product = multiply(A, product, m);
  const centre = product[Math.floor(m / 2) * m + Math.floor(m / 2)]!;
  if (centre > 2 ** 200 || (centre > 0 && centre < 2 ** -200)) {
    const e = Math.floor(Math.log2(centre));
    const f = Math.pow(2, -e);
    for (let i = 0; i < product.length; i++) product[i]! *= f;
    scale += e;
  }
  return { matrix: product, log2Scale: scale };
}

/** A B for m x m matrices: WebAssembly SIMD (the JS triple loop cost ~10 ms a p-value at m ~ 80). */
function multiply(A: Float64Array, B: Float64Array, m: number): Float64Array {
  return matMulWasm(A, B, m);
}

const logFactorialCache: number[] = [0];
/** ln(n!) by a running sum (exact to rounding, cached; n here is at most a few 10^5). */
export function logFactorial(n: number): number {
  for (let i = logFactorialCache.length; i <= n; i++) logFactorialCache.push(logFactorialCache[i - 1]! + Math.log(i));
  return logFactorialCache[n]!;
}

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}
