/**
 * Default prefill chunk. Measured on this project's CPU benchmark (8 layers, hidden 1024,
 * 4096 tokens): 1024-token chunks are the fastest and take half the peak memory of 2048 or
 * one pass. On a GPU it bounds one layer's attention scores of an 8B model at 16K context
 * to 32 heads x 1024 x 16384 fp16 = 1 GiB, beside 16 GB of weights on a 24 GB card.
 */
export const DEFAULT_CHUNK = 1024;

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

/**
 * Attention-score bytes of one chunk that `--prefill stream` aims for when --chunk is not
 * given. Every layer's session is new, so its arena's pages are faulted in again for every
 * layer of every prompt, and the scores (twice: softmax) are most of that arena. On the bench
 * model (8 layers, hidden 1024, 16 heads, 4096 tokens) 1024-token chunks cost 4.2-4.4 s of
 * system time per prompt against 0.5-0.8 s for `layers`; 256-token chunks (64 MiB of scores)
 * 0.9 s, at 0.50 instead of 1.37 GiB peak RSS (docs/FACTS.md).
 */
export const STREAM_CHUNK_SCORES = 64 * 2 ** 20;

/** The shortest chunk the streamed default goes to: below it the projections re-read the layer's weights too often per token. */
export const STREAM_MIN_CHUNK = 256;

/**
 * The chunk `--prefill stream` runs a `kLen`-token prompt in: `asked` (the user's --chunk)
 * within STREAM_SCORES_BUDGET, or, when none was given, DEFAULT_CHUNK shortened until one
 * chunk's scores take at most STREAM_CHUNK_SCORES, but not below STREAM_MIN_CHUNK (and
 * never above the budget).
 */
export function streamChunk(asked: number | undefined, kLen: number, nHeads: number): number {
  if (asked !== undefined) return chunkWithinScores(asked, kLen, nHeads);
  const small = chunkWithinScores(DEFAULT_CHUNK, kLen, nHeads, STREAM_CHUNK_SCORES);
  return chunkWithinScores(Math.max(small, Math.min(DEFAULT_CHUNK, STREAM_MIN_CHUNK)), kLen, nHeads);
}
