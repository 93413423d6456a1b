import { createKernels, type KernelOptions } from '../stats/kernels/index.js';
import { meanAndCovariance } from '../stats/small-linalg.js';
import type { GmmParams } from '../stats/types.js';
import { keptOutcomes, keptSets, softmaxRows } from './press-error.js';
import {
  expectedAttentionScores, oracleScores, PRESS_DEFAULTS, pressSinks, randomScores, SCORERS, snapkvScores, streamingLlmScores, valueNorms, type Scorer,
} from './press-scorers.js';
import { averageRotation, rotateRowsToPositions } from './rope.js';
import { gaussianLogScores, mixtureLogScores, rotateKeys, type KeyRows } from './scores.js';

/**
 * One unit's KV-cache press simulation. The sampled positions before the split are the
 * cache (post-RoPE keys, values), standing in for the context: its first PRESS_DEFAULTS.nSink
 * entries play kvpress's sink tokens. Each scorer ranks the cache from what a press could
 * see at prefill time (the seen queries; the oracle alone looks at the future), keeps the
 * top keys at each compression ratio, and the future queries of every head of the group
 * measure what was lost against the full cache.
 */

export interface PressInput {
  /** post-RoPE keys of the cache [n, d] */
  keys: KeyRows;
  /** values of the cache [n, d] */
  values: Float64Array;
  /** per query head: its pre-RoPE queries at the cache positions [n, d] */
  seenPerHead: Float64Array[];
  /** every future query of every head, rotated to its position [nQ, d] */
  futureRotated: Float64Array;
  nFutureQueries: number;
  /** sampled positions of the cache [n] (ascending) */
  cachePositions: Int32Array;
  /** per query head: the mixture of its queries after the sinks, or undefined when the fit failed */
  mixturePerHead?: GmmParams[];
  /** BIC-best K of the mixture (1: the mixture scorer is expected_attention itself) */
  bestK: number;
  invFreq: Float64Array;
  /** compression ratios (fraction of keys removed) */
  ratios: number[];
  /** seed of the random press */
  seed: number;
  kernel?: KernelOptions;
  /** also return each scorer's kept indices per ratio (tests compare them with a reference) */
  returnKeptSets?: boolean;
}

/** Per scorer, per ratio: median relative output error and mean kept mass (NaN where a scorer could not run). */
export interface PressResult {
  err: Record<Scorer, number[]>;
  mass: Record<Scorer, number[]>;
  /** with returnKeptSets: [ratio index] the kept cache indices, descending score */
  kept?: Partial<Record<Scorer, number[][]>>;
}

/** Simulates every scorer at every ratio on one unit. */
export async function simulatePress(input: PressInput): Promise<PressResult> {
  const { keys, values, ratios, kernel = {} } = input;
  const { n, d } = keys;
  const nSink = pressSinks(n);
  const scale = 1 / Math.sqrt(d);
  const keyKernels = createKernels(keys.data, n, d, { ...kernel, threads: kernel.threads ?? 1 });

  // the truth: attention of every future query over the full cache, [nQ, n]
  const nQ = input.nFutureQueries;
  const A = transpose(await keyKernels.crossDot(input.futureRotated, nQ), n, nQ);
  softmaxRows(A, nQ, n, scale);
  const meanAttention = new Float64Array(n);
  for (let q = 0; q < nQ; q++) for (let i = 0; i < n; i++) meanAttention[i]! += A[q * n + i]! / nQ;
  const vNorm = valueNorms(values, n, d);

  // kvpress: the query statistics after the sinks, the rotation averaged over the next 512 positions, the keys after the sinks
  const lastPosition = input.cachePositions[n - 1]!;
  const rotation = averageRotation(input.invFreq, Array.from({ length: PRESS_DEFAULTS.nFuturePositions }, (_, i) => lastPosition + 1 + i));
  const scoredKeys: KeyRows = { data: keys.data.subarray(nSink * d), n: n - nSink, d };
  const rotated = rotateKeys([rotation], scoredKeys, kernel);
  const gaussianLogits: Float64Array[] = [];
  for (const seen of input.seenPerHead) {
    const { mean, cov } = meanAndCovariance(seen.subarray(nSink * d, n * d), n - nSink, d, 0);
    gaussianLogits.push(await gaussianLogScores(mean, cov, rotated, scoredKeys));
  }
  const scores: Partial<Record<Scorer, Float64Array>> = {
    expected_attention: expectedAttentionScores(gaussianLogits, vNorm, nSink),
    expected_attention_novnorm: expectedAttentionScores(gaussianLogits, null, nSink),
    snapkv: await snapkv(input, nSink, keyKernels),
    streaming_llm: streamingLlmScores(n, nSink),
    random: randomScores(n, input.seed),
    oracle: oracleScores(meanAttention, vNorm),
  };
  if (input.mixturePerHead) {
    // with one component the mixture is the head's own Gaussian: the same scores, bit for bit
    const logits = input.bestK === 1 ? gaussianLogits : await Promise.all(input.mixturePerHead.map((m) => mixtureLogScores(m, rotated, scoredKeys)));
    scores.expected_attention_mixture = expectedAttentionScores(logits, vNorm, nSink);
  }

  const present = SCORERS.filter((s) => scores[s] !== undefined);
  const sets = present.flatMap((s) => keptSets(scores[s]!, ratios));
  const outcomes = await keptOutcomes(A, nQ, values, n, d, sets, kernel);
  const result: PressResult = { err: nanRecord(ratios.length), mass: nanRecord(ratios.length) };
  present.forEach((s, i) => {
    result.err[s] = ratios.map((_, r) => outcomes[i * ratios.length + r]!.err);
    result.mass[s] = ratios.map((_, r) => outcomes[i * ratios.length + r]!.mass);
  });
  if (input.returnKeptSets) result.kept = Object.fromEntries(present.map((s, i) => [s, ratios.map((_, r) => Array.from(sets[i * ratios.length + r]!))]));
  return result;
}

/** SnapKV on the sampled cache: the last (up to) 64 cached queries of each head at their own positions. */
async function snapkv(input: PressInput, nSink: number, keyKernels: ReturnType<typeof createKernels>): Promise<Float64Array> {
  const { n, d } = input.keys;
  // kvpress needs more queries than the window; a short cache keeps the window below n
  const w = Math.max(1, Math.min(PRESS_DEFAULTS.snapWindow, n - nSink));
  const windowPositions = input.cachePositions.subarray(n - w);
  const perHead: Float64Array[] = [];
  for (const seen of input.seenPerHead) {
    const rotated = rotateRowsToPositions(seen.subarray((n - w) * d, n * d), windowPositions, input.invFreq);
    const logits = transpose(await keyKernels.crossDot(rotated, w), n, w); // [w, n]
    for (let i = 0; i < logits.length; i++) logits[i]! /= Math.sqrt(d);
    perHead.push(logits);
  }
  return snapkvScores(perHead, n, w);
}

/** [rows, cols] -> [cols, rows]. */
function transpose(M: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = M[r * cols + c]!;
  return out;
}

function nanRecord(len: number): Record<Scorer, number[]> {
  return Object.fromEntries(SCORERS.map((s) => [s, new Array<number>(len).fill(NaN)])) as Record<Scorer, number[]>;
}

