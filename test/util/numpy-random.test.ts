// numpy's legacy RandomState, draw for draw: the raw 32-bit stream, randint's masked rejection
// at awkward bounds, random_sample and the polar normal pairs, for several seeds.
import { describe, expect, it } from 'vitest';
import { NumpyRandomState } from '../../src/util/numpy-random.js';
import { python } from '../stats/gmm-python.js';

describe('NumpyRandomState', () => {
  it('reproduces np.random.RandomState(seed) exactly', () => {
    const seeds = [0, 1, 12345, 2 ** 32 - 1];
    const bounds = [1, 2, 3, 7, 1000, 4096, 2 ** 31 + 5, 2 ** 32];
    const ref = python<{ draws: number[][] }>(`
draws = []
for s in inp['seeds']:
    r = np.random.RandomState(s)
    row = [int(r.randint(0, 2**32, dtype=np.uint32)) for _ in range(700)]  # crosses a twist
    row += [int(r.randint(b)) for b in inp['bounds']]
    row += [float(v) for v in r.random_sample(5)]
    row += [float(r.uniform()) for _ in range(3)]
    row += [float(r.standard_normal()) for _ in range(5)]
    row += [int(r.randint(b)) for b in inp['bounds']]
    draws.append(row)
out(draws=draws)
`, { seeds, bounds });
    seeds.forEach((seed, si) => {
      const r = new NumpyRandomState(seed);
      const row: number[] = [];
      for (let i = 0; i < 700; i++) row.push(r.nextUint32());
      for (const b of bounds) row.push(r.int(b));
      for (let i = 0; i < 8; i++) row.push(r.next());
      for (let i = 0; i < 5; i++) row.push(r.normal());
      for (const b of bounds) row.push(r.int(b));
      expect(row).toEqual(ref.draws[si]);
    });
  });

  it('rejects seeds and bounds numpy rejects', () => {
    expect(() => new NumpyRandomState(-1)).toThrow(RangeError);
    expect(() => new NumpyRandomState(2 ** 32)).toThrow(RangeError);
    expect(() => new NumpyRandomState(0).int(0)).toThrow(RangeError);
  });
});
