import { createRng } from '../util/rng.js';
import { groupAttention } from './metrics.js';

/**
 * The key scores of the presses a unit's simulation compares, each a plain function of
 * plain arrays in kvpress's conventions: a higher score is kept first, and a press keeps
 * the top `keptCountAt(n, ratio)` keys of its score. Parameters are kvpress's defaults
 * (ExpectedAttentionPress, SnapKVPress, StreamingLLMPress), in one place.
 */

/** The scorers of the CSV (`err_<scorer>@<ratio>`, `mass_<scorer>@<ratio>`), in report order. */
export const SCORERS = [
  'expected_attention', 'expected_attention_mixture', 'expected_attention_novnorm', 'snapkv', 'streaming_llm', 'random', 'oracle',
] as const;
export type Scorer = (typeof SCORERS)[number];

/** kvpress's defaults. */
export const PRESS_DEFAULTS = {
  /** ExpectedAttentionPress.n_sink and StreamingLLMPress.n_sink: first cache entries always kept */
  nSink: 4,
  /** ExpectedAttentionPress.n_future_positions: the RoPE rotation is averaged over the positions after the context */
  nFuturePositions: 512,
  /** ExpectedAttentionPress.epsilon, added to the scores before the value-norm rescaling */
  epsilon: 0,
  /** SnapKVPress.window_size: the last queries whose attention scores the keys */
  snapWindow: 64,
  /** SnapKVPress.kernel_size: the pooling of the window's attention over neighbouring keys */
  snapKernel: 5,
} as const;

/** Sink entries of a cache of n keys: kvpress's n_sink, leaving at least one key to score. */
export function pressSinks(n: number): number {
  return Math.max(0, Math.min(PRESS_DEFAULTS.nSink, n - 1));
}

/** Keys kept at compression ratio r (fraction removed): kvpress's int(n (1 - r)), at least 1. */
export function keptCountAt(n: number, ratio: number): number {
  return Math.max(1, Math.min(n, Math.floor(n * (1 - ratio))));
}

/** L2 norm of each value row [n] of V [n, d]. */
export function valueNorms(V: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += V[i * d + j]! * V[i * d + j]!;
    out[i] = Math.sqrt(s);
  }
  return out;
}

/**
 * ExpectedAttentionPress.score from each query head's expected-attention logits over the
 * keys after the sinks ([n - nSink] each): softmax per head, mean over the group, then
 * (score + epsilon) * |v| when `vNorm` is given ([n], all keys); the sinks get the maximum
 * + 1 so they are always kept. Returns [n].
 */
export function expectedAttentionScores(logitsPerHead: Float64Array[], vNorm: Float64Array | null, nSink: number, epsilon: number = PRESS_DEFAULTS.epsilon): Float64Array {
  const probs = groupAttention(logitsPerHead);
  const m = probs.length;
  const out = new Float64Array(nSink + m);
  let max = -Infinity;
  for (let i = 0; i < m; i++) {
    const s = vNorm ? (probs[i]! + epsilon) * vNorm[nSink + i]! : probs[i]!;
    out[nSink + i] = s;
    if (s > max) max = s;
  }
  for (let i = 0; i < nSink; i++) out[i] = max + 1;
  return out;
}

/**
 * SnapKVPress.score from each query head's attention logits of the last `w` cached queries
 * to all n keys ([w, n] row-major, already scaled by 1/sqrt(d)): causal softmax (window
 * query j sees keys 0 .. n - w + j), the mean over the window of the weights on the keys
 * before the window, an average pool of width `kernel` (zero padding counted, as torch's
 * avg_pool1d), the mean over the group; the window's own keys get the maximum + 1. [n]
 */
export function snapkvScores(windowLogitsPerHead: Float64Array[], n: number, w: number, kernel: number = PRESS_DEFAULTS.snapKernel): Float64Array {
  const m = n - w; // keys before the window
  const mean = new Float64Array(m);
  for (const logits of windowLogitsPerHead) {
    for (let j = 0; j < w; j++) {
      const row = logits.subarray(j * n, (j + 1) * n);
      const visible = m + j + 1;
      let mx = -Infinity;
      for (let c = 0; c < visible; c++) if (row[c]! > mx) mx = row[c]!;
      let z = 0;
      for (let c = 0; c < visible; c++) z += Math.exp(row[c]! - mx);
      const scale = 1 / (z * w * windowLogitsPerHead.length);
      for (let c = 0; c < m; c++) mean[c]! += Math.exp(row[c]! - mx) * scale;
    }
  }
  const half = Math.floor(kernel / 2);
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let c = Math.max(0, i - half); c <= Math.min(m - 1, i + half); c++) s += mean[c]!;
    out[i] = s / kernel;
    if (out[i]! > max) max = out[i]!;
  }
  for (let i = m; i < n; i++) out[i] = max + 1;
  return out;
}

/**
 * StreamingLLMPress as one score: the sinks first, then recency. The top n_kept of it are
 * the first `nSink` keys and the n_kept - nSink most recent, kvpress's kept set at any ratio.
 */
export function streamingLlmScores(n: number, nSink: number = PRESS_DEFAULTS.nSink): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (i < nSink ? n + 1 : i));
}

/** RandomPress: uniform scores from a seeded generator. */
export function randomScores(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => rng.next());
}

/** The ceiling: the true mean attention of the future queries times the value norm. */
export function oracleScores(meanAttention: Float64Array, vNorm: Float64Array): Float64Array {
  return meanAttention.map((a, i) => a * vNorm[i]!);
}
