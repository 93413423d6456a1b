/**
 * numpy's legacy `RandomState` (MT19937) for the few draws scikit-learn's mixture
 * initialisation makes: `randint(n)`, `uniform()` and `random_sample()`. With it, a fit
 * seeded with s starts from exactly the k-means++ centres scikit-learn draws for
 * `GaussianMixture(random_state=s)`, so the two land in the same local optimum and can be
 * compared fit for fit (from independent RNGs they differ by init luck, a few nats a sample).
 */
import type { Rng } from './rng.js';

const N = 624;
const M = 397;

export class NumpyRandomState implements Rng {
  private readonly mt = new Uint32Array(N);
  private index = N;

  /** `np.random.RandomState(seed)` for an integer seed in [0, 2^32) (init_genrand). */
  constructor(seed: number) {
    if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev mod 2^32 without losing bits to float multiplication
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** The next raw 32-bit output. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()`: a double in [0, 1) from 53 random bits (two outputs). */
  next(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `randint(n)` (n <= 2^32): numpy's masked rejection sampling on 32-bit outputs. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 32)) throw new RangeError(`randint bound must be an integer in [1, 2^32], got ${n}`);
    const max = n - 1;
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    for (;;) {
      const v = (this.nextUint32() & mask) >>> 0;
      if (v <= max) return v;
    }
  }

  /** A standard normal by the polar method (numpy's legacy `standard_normal` pairs). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    for (;;) {
      const x1 = 2 * this.next() - 1;
      const x2 = 2 * this.next() - 1;
      const r2 = x1 * x1 + x2 * x2;
      if (r2 < 1 && r2 !== 0) {
        const f = Math.sqrt((-2 * Math.log(r2)) / r2);
        this.spare = f * x1;
        return f * x2;
      }
    }
  }

  private spare: number | null = null;
}
