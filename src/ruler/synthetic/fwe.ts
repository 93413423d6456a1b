import type { Rng } from '../../util/rng.js';
import { maxNewTokensOf } from '../tasks.js';
import { fwePieces } from '../templates.js';
import type { RulerRow } from '../types.js';
import { largestFitting } from './budget.js';
import { shuffle } from './random.js';
import { promptRng, type SyntheticRequest } from './request.js';

/** RULER's fwe: Zipf(alpha = 2) counts over 6-letter coded words; rank 1 is the '...' noise. */
export const FWE_ALPHA = 2;
const CODED_LENGTH = 6;
const ZETA_2 = (Math.PI * Math.PI) / 6;

/** Vocabulary size RULER uses: (max_seq_length - max_new_tokens) / 50 coded words. */
function vocabSize(maxTokens: number, maxNewTokens: number): number {
  return Math.max(4, Math.floor((maxTokens - maxNewTokens) / 50));
}

function codedVocab(rng: Rng, size: number): string[] {
  const set = new Set<string>();
  while (set.size < size) {
    let w = '';
    for (let i = 0; i < CODED_LENGTH; i++) w += String.fromCharCode(97 + rng.int(26));
    set.add(w);
  }
  const vocab = shuffle(rng, [...set].sort());
  vocab[0] = '...';
  return vocab;
}

/** Word k (1-based rank) appears floor(numWords * k^-alpha / zeta(alpha)) times, shuffled. */
function codedText(rng: Rng, vocab: string[], numWords: number): string {
  const words: string[] = [];
  vocab.forEach((w, i) => {
    const count = Math.floor((numWords * (i + 1) ** -FWE_ALPHA) / ZETA_2);
    for (let c = 0; c < count; c++) words.push(w);
  });
  return shuffle(rng, words).join(' ');
}

/** An fwe prompt sized to the budget; answers = the coded words of ranks 2, 3, 4. */
export function generateFwe(req: SyntheticRequest): RulerRow {
  const fresh = promptRng(req);
  const maxNewTokens = maxNewTokensOf(req.task);
  const size = vocabSize(req.maxTokens, maxNewTokens);
  const build = (numWords: number) => {
    const rng = fresh();
    const vocab = codedVocab(rng, size);
    return { ...fwePieces(codedText(rng, vocab, numWords)), answers: vocab.slice(1, 4) };
  };
  // at least enough words that rank 4 appears once: numWords * 4^-2 / zeta(2) >= 1
  const minWords = Math.ceil(16 * ZETA_2);
  const tokens = (k: number) => {
    const p = build(minWords + k - 1);
    return req.countTokens(p.context + p.question + p.answerPrefix) + maxNewTokens;
  };
  const k = largestFitting(tokens, req.maxTokens, req.task);
  const p = build(minWords + k - 1);
  return { task: req.task, promptIdx: req.promptIdx, context: p.context, question: p.question, answerPrefix: p.answerPrefix, answers: p.answers, maxNewTokens };
}
