import type { Rng } from '../../util/rng.js';

/** Fisher–Yates shuffle in place; returns the array. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** k distinct integers from [0, n), in draw order (as Python's random.sample(range(n), k)). */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  if (k > n) throw new RangeError(`cannot sample ${k} of ${n}`);
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** A random integer with exactly `digits` digits, as a string (RULER's 7-digit values). */
export function randomDigits(rng: Rng, digits: number): string {
  const low = 10 ** (digits - 1);
  return String(low + rng.int(9 * low));
}

/** A version-4 uuid from 122 random bits, formatted like Python's str(uuid.UUID(...)). */
export function randomUuid(rng: Rng): string {
  const bytes = Array.from({ length: 16 }, () => rng.int(256));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `k` uppercase ASCII letters (variable names of the vt task). */
export function randomUpper(rng: Rng, k: number): string {
  let s = '';
  for (let i = 0; i < k; i++) s += String.fromCharCode(65 + rng.int(26));
  return s;
}
