/**
 * Seeded pseudo-random numbers shared by every module that samples (positions, splits,
 * initialisations, synthetic data), so a result depends only on its seed and never on
 * Math.random. xoshiro128** over 32-bit state: fast in JS (no BigInt) and well tested.
 */
export interface Rng {
  /** uniform float in [0, 1) with 32 random bits */
  next(): number;
  /** uniform integer in [0, n) without modulo bias */
  int(n: number): number;
  /** standard normal (Box–Muller, one value cached) */
  normal(): number;
}

/** The seeded generator of createRng, with a bulk normal fill. */
export interface SeededRng extends Rng {
  /**
   * Fills `out` with standard normals: exactly the values `out.length` calls of normal()
   * would return (same stream, same cached value before and after), without a call and a
   * branch per value (the planted data of the KS power table draw 0.5 M normals a draw).
   */
  fillNormal(out: Float64Array): Float64Array;
}

/** FNV-1a over the UTF-8 of the parts: derives independent seeds from e.g. (seed, task, prompt_idx). */
export function seedFrom(...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  const text = parts.map(String).join('\u0000');
  const bytes = new TextEncoder().encode(text);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A generator fully determined by `seed` (any integer; non-integers are hashed). */
export function createRng(seed: number): SeededRng {
  const init = splitmix32(Number.isInteger(seed) ? seed >>> 0 : seedFrom(seed));
  let a = init(), b = init(), c = init(), d = init();
  if ((a | b | c | d) === 0) a = 1;
  let spare: number | undefined;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a; d ^= b; b ^= c; a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const next = () => nextU32() / 4294967296;
  return {
    next,
    int(n: number): number {
      if (!(n >= 1) || n > 4294967296) throw new RangeError(`rng.int needs 1 <= n <= 2^32, got ${n}`);
      const limit = 4294967296 - (4294967296 % n);
      for (;;) {
        const x = nextU32();
        if (x < limit) return x % n;
      }
    },
    normal(): number {
      if (spare !== undefined) {
        const v = spare;
        spare = undefined;
        return v;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    fillNormal(out: Float64Array): Float64Array {
      let i = 0;
      if (spare !== undefined && out.length > 0) {
        out[i++] = spare;
        spare = undefined;
      }
      // the same pair as normal(): cos first, then the sin it would cache. nextU32's steps are
      // written out on local copies of the state: updating the closure's 32-bit words boxes each
      // value above 2^30 as a heap number, ~2 M allocations a 0.5 M fill (1.6x the time, plus GC)
      let sa = a, sb = b, sc = c, sd = d;
      for (; i + 1 < out.length; i += 2) {
        let u = 0;
        do {
          const x = Math.imul(rotl(Math.imul(sb, 5) >>> 0, 7), 9) >>> 0;
          const t = (sb << 9) >>> 0;
          sc ^= sa; sd ^= sb; sb ^= sc; sa ^= sd;
          sc ^= t;
          sd = rotl(sd, 11);
          u = x / 4294967296;
        } while (u === 0);
        const y = Math.imul(rotl(Math.imul(sb, 5) >>> 0, 7), 9) >>> 0;
        const t = (sb << 9) >>> 0;
        sc ^= sa; sd ^= sb; sb ^= sc; sa ^= sd;
        sc ^= t;
        sd = rotl(sd, 11);
        const v = y / 4294967296;
        const r = Math.sqrt(-2 * Math.log(u));
        out[i] = r * Math.cos(2 * Math.PI * v);
        out[i + 1] = r * Math.sin(2 * Math.PI * v);
      }
      a = sa; b = sb; c = sc; d = sd;
      if (i < out.length) {
        let u = 0;
        while (u === 0) u = next();
        const v = next();
        const r = Math.sqrt(-2 * Math.log(u));
        spare = r * Math.sin(2 * Math.PI * v);
        out[i] = r * Math.cos(2 * Math.PI * v);
      }
      return out;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
