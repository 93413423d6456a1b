/** One prefill chunk: absolute token range and the sampled positions inside it. */
export interface ChunkPlan {
  /** absolute position of the chunk's first token */
  start: number;
  /** tokens in the chunk */
  length: number;
  /** sampled positions inside the chunk, relative to `start`, ascending */
  capture: Int32Array;
  /** index in the sorted sample of this chunk's first captured position */
  firstRow: number;
}

/**
 * Splits a prefill of `kLen` tokens into chunks of `chunk` tokens (0 = one pass) and assigns
 * each ascending sampled position to the chunk that holds it.
 */
export function planChunks(kLen: number, positionsSorted: Int32Array, chunk: number): ChunkPlan[] {
  const size = chunk > 0 ? chunk : kLen;
  const plans: ChunkPlan[] = [];
  let row = 0;
  for (let start = 0; start < kLen; start += size) {
    const length = Math.min(size, kLen - start);
    const first = row;
    while (row < positionsSorted.length && positionsSorted[row]! < start + length) row++;
    const capture = new Int32Array(row - first);
    for (let i = first; i < row; i++) capture[i - first] = positionsSorted[i]! - start;
    plans.push({ start, length, capture, firstRow: first });
  }
  if (row !== positionsSorted.length) throw new RangeError(`positions beyond the prompt's ${kLen} tokens`);
  return plans;
}
