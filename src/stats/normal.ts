/**
 * Standard normal CDF to ~1e-15 absolute (W. J. Cody's erfc rational approximations are
 * replaced here by a continued-fraction/series pair that is simple to verify).
 */

/** Phi(x) = P(Z <= x) for a standard normal Z. */
export function normalCdf(x: number): number {
  if (x < -38) return 0;
  if (x > 9) return 1;
  const z = x / Math.SQRT2;
  return z < 0 ? 0.5 * erfc(-z) : 1 - 0.5 * erfc(z);
}

/** erfc(z) for z >= 0: Taylor series of erf below 2.5, Lentz continued fraction above. */
function erfc(z: number): number {
  if (z < 2.5) {
    // erf(z) = 2/sqrt(pi) sum_n (-1)^n z^(2n+1) / (n! (2n+1)); alternating but |z| < 2.5 keeps it to ~1e-15
    let term = z, sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
  const tiny = 1e-300;
  let f = z, C = z, D = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    D = z + a * D;
    D = Math.abs(D) < tiny ? tiny : D;
    C = z + a / C;
    C = Math.abs(C) < tiny ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}
