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

/**
 * Bytes the streamed prefill lets one chunk's attention scores take ([heads, chunk, prompt]
 * float32; the softmax writes a second such tensor). With one layer's weights loaded, the
 * scores are what grows with the prompt: Llama-3.1-8B at 16K tokens in 1024-token chunks
 * would hold 2 GiB of scores twice over.
 */
export const STREAM_SCORES_BUDGET = 512 * 2 ** 20;

/**
 * `chunk` (0 = the whole prompt), or fewer tokens when its attention scores over a `kLen`-token
 * prompt with `nHeads` heads would exceed `budgetBytes`: the largest multiple of 64 within
 * it (64 at least). Rows do not depend on the chunk beyond float rounding.
 */
export function chunkWithinScores(chunk: number, kLen: number, nHeads: number, budgetBytes = STREAM_SCORES_BUDGET): number {
  const wanted = chunk > 0 ? chunk : kLen;
  const fits = Math.floor(budgetBytes / (Math.max(1, kLen) * nHeads * 4));
  if (wanted <= fits) return chunk;
  return Math.max(64, fits - (fits % 64));
}
