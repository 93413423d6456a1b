import { createRng, seedFrom, type Rng } from '../../util/rng.js';
import type { CountTokens } from '../types.js';

/** What every offline generator gets: which prompt, how many tokens, and how to count them. */
export interface SyntheticRequest {
  task: string;
  promptIdx: number;
  /** RULER's max_seq_length: prompt tokens + max_new_tokens must not exceed it */
  maxTokens: number;
  countTokens: CountTokens;
  seed: number;
  /** essay words for essay-haystack tasks; absent = the noise haystack */
  essayWords?: readonly string[];
}

/**
 * A fresh generator for (seed, task, prompt) each call: every haystack size tried while
 * fitting the budget draws the same needles, so only the haystack length changes.
 */
export function promptRng(req: SyntheticRequest): () => Rng {
  const seed = seedFrom('ruler', req.seed, req.task, req.promptIdx);
  return () => createRng(seed);
}
