import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: they turn a bad flag value into one clear line (exit 1). */

export function intArg(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got ${n}`);
    }
    return n;
  };
}

export function floatArg(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got ${n}`);
    return n;
  };
}

/** "0,3,4" -> [0, 3, 4]; rejects negatives, duplicates and junk. */
export function intListArg(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list of integers');
  const out = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new InvalidArgumentError(`expected non-negative integers, got "${p}"`);
    return Number(p);
  });
  if (new Set(out).size !== out.length) throw new InvalidArgumentError(`duplicate entries in "${value}"`);
  return out;
}

/** "0.1,0.25" -> [0.1, 0.25], each in (0, 1]. */
export function fractionListArg(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list of fractions');
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`expected fractions in (0, 1], got "${p}"`);
    return n;
  });
}

/** Compression ratios (fraction of keys removed, kvpress's meaning): fractions in (0, 1). */
export function ratioListArg(value: string): number[] {
  const ratios = fractionListArg(value);
  const bad = ratios.find((r) => r >= 1);
  if (bad !== undefined) throw new InvalidArgumentError(`compression ratios are fractions of keys removed, in (0, 1); got ${bad}`);
  return ratios;
}

export interface Shard {
  /** 0-based index of this shard. */
  index: number;
  count: number;
}

/** "i/n" with 0 <= i < n: this process takes every n-th job starting at job i. */
export function shardArg(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected i/n (e.g. 0/4), got "${value}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new InvalidArgumentError(`expected 0 <= i < n in i/n, got "${value}"`);
  return { index, count };
}

export function choiceArg<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    }
    return value as T;
  };
}
