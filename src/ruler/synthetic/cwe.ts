import type { Rng } from '../../util/rng.js';
import { maxNewTokensOf } from '../tasks.js';
import { cwePieces } from '../templates.js';
import type { RulerRow } from '../types.js';
import { ADJECTIVES, NOUNS, VERBS } from '../words.js';
import { largestFitting } from './budget.js';
import { sampleIndices, shuffle } from './random.js';
import { promptRng, type SyntheticRequest } from './request.js';

/** Number of common words (the answers). */
export const CWE_COMMON = 10;

/**
 * RULER's repeat counts: from 4K tokens on, common words x 30 and the others x 3, after a
 * solved example of 40 words (x 10 / x 3); below 4K, x 6 / x 1 after 20 words (x 3 / x 1).
 */
export function cweSettings(maxTokens: number) {
  return maxTokens >= 4096
    ? { commonRepeats: 30, uncommonRepeats: 3, exampleWords: 40, exampleCommonRepeats: 10, exampleUncommonRepeats: 3 }
    : { commonRepeats: 6, uncommonRepeats: 1, exampleWords: 20, exampleCommonRepeats: 3, exampleUncommonRepeats: 1 };
}

const BASE_WORDS: readonly string[] = [...new Set([...NOUNS, ...ADJECTIVES, ...VERBS])].sort();

// RULER switches to a larger English list when the prompt needs more distinct words than
// its base list; ours adds regular inflections (plurals, -ly adverbs, third-person -s).
const EXTENDED_WORDS: readonly string[] = [...new Set([
  ...BASE_WORDS,
  ...NOUNS.map(plural),
  ...ADJECTIVES.map(adverb),
  ...VERBS.map(plural),
])].sort();

function plural(w: string): string {
  if (/(s|x|z|ch|sh)$/.test(w)) return `${w}es`;
  if (/[^aeiou]y$/.test(w)) return `${w.slice(0, -1)}ies`;
  return `${w}s`;
}

function adverb(w: string): string {
  if (/[^aeiou]y$/.test(w)) return `${w.slice(0, -1)}ily`;
  if (/le$/.test(w)) return `${w.slice(0, -1)}y`;
  if (/ic$/.test(w)) return `${w}ally`;
  return `${w}ly`;
}

/** How many distinct words the generator can draw (caps the prompt length). */
export const CWE_MAX_WORDS = EXTENDED_WORDS.length;

function numberedList(rng: Rng, numWords: number, commonRepeats: number, uncommonRepeats: number) {
  const pool = numWords <= BASE_WORDS.length ? BASE_WORDS : EXTENDED_WORDS;
  const chosen = sampleIndices(rng, pool.length, Math.min(numWords, pool.length)).map((i) => pool[i]!);
  const common = chosen.slice(0, CWE_COMMON);
  const list: string[] = [];
  for (let r = 0; r < commonRepeats; r++) list.push(...common);
  for (let r = 0; r < uncommonRepeats; r++) list.push(...chosen.slice(CWE_COMMON));
  shuffle(rng, list);
  return { text: list.map((w, i) => `${i + 1}. ${w}`).join(' '), common };
}

/** A cwe prompt: one solved example, then a numbered list sized to the budget; answers = the 10 common words. */
export function generateCwe(req: SyntheticRequest): RulerRow {
  const fresh = promptRng(req);
  const maxNewTokens = maxNewTokensOf(req.task);
  const set = cweSettings(req.maxTokens);
  const build = (numWords: number) => {
    const rng = fresh();
    const example = numberedList(rng, set.exampleWords, set.exampleCommonRepeats, set.exampleUncommonRepeats);
    const exampleAnswer = example.common.map((w, i) => `${i + 1}. ${w}`).join(' ');
    const main = numberedList(rng, numWords, set.commonRepeats, set.uncommonRepeats);
    return { ...cwePieces(example.text, exampleAnswer, main.text), answers: main.common };
  };
  const tokens = (k: number) => {
    const p = build(CWE_COMMON + k);
    return req.countTokens(p.context + p.question + p.answerPrefix) + maxNewTokens;
  };
  const extra = largestFitting((k) => (k > CWE_MAX_WORDS - CWE_COMMON ? Infinity : tokens(k)), req.maxTokens, req.task);
  const p = build(CWE_COMMON + extra);
  return { task: req.task, promptIdx: req.promptIdx, context: p.context, question: p.question, answerPrefix: p.answerPrefix, answers: p.answers, maxNewTokens };
}
