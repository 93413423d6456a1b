import { createRng, seedFrom } from '../util/rng.js';

/**
 * The prefill positions captured for one prompt: `tSub` distinct positions drawn uniformly
 * from [nSink, kLen), ascending. Seeded by (seed, task, promptIdx) so any one file can be
 * recomputed alone, whatever else the run did.
 */
export function samplePositions(kLen: number, nSink: number, tSub: number, seed: number, task: string, promptIdx: number): Int32Array {
  const available = kLen - nSink;
  if (!(Number.isInteger(tSub) && tSub >= 1)) throw new RangeError(`t_sub must be a positive integer, got ${tSub}`);
  if (available < tSub) {
    throw new RangeError(`prompt has ${kLen} tokens: ${available} after the ${nSink}-token sink, fewer than t_sub = ${tSub}`);
  }
  const rng = createRng(seedFrom('positions', seed, task, promptIdx));
  const out = new Int32Array(tSub);
  if (tSub * 2 > available) {
    // dense draw: a partial Fisher–Yates over the whole range
    const pool = new Int32Array(available);
    for (let i = 0; i < available; i++) pool[i] = nSink + i;
    for (let i = 0; i < tSub; i++) {
      const j = i + rng.int(available - i);
      const t = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = t;
      out[i] = pool[i]!;
    }
  } else {
    // sparse draw (Floyd's algorithm): tSub draws, no array of the whole range
    const chosen = new Set<number>();
    for (let j = available - tSub; j < available; j++) {
      const t = rng.int(j + 1);
      chosen.add(chosen.has(t) ? j : t);
    }
    let i = 0;
    for (const v of chosen) out[i++] = nSink + v;
  }
  return out.sort();
}
