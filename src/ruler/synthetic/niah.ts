import type { Rng } from '../../util/rng.js';
import { maxNewTokensOf } from '../tasks.js';
import { needleSentence, niahPieces, NOISE_HAYSTACK, type NeedleKind } from '../templates.js';
import type { RulerRow } from '../types.js';
import { ADJECTIVES, NOUNS } from '../words.js';
import { largestFitting } from './budget.js';
import { DEPTHS, essayPrefix, insertAtDepths, splitSentences } from './haystack.js';
import { pick, randomDigits, randomUuid, sampleIndices, shuffle } from './random.js';
import { promptRng, type SyntheticRequest } from './request.js';

/** One needle-in-a-haystack task, as in RULER's synthetic.yaml. */
export interface NiahConfig {
  haystack: 'noise' | 'essay' | 'needle';
  keyKind: NeedleKind;
  valueKind: NeedleKind;
  /** keys planted (RULER: max(num_needle_k, num_needle_q)) */
  keys: number;
  /** values planted per key */
  values: number;
  /** keys asked about */
  queries: number;
}

export const NIAH_TASKS: Record<string, NiahConfig> = {
  niah_single_1: { haystack: 'noise', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_single_2: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_single_3: { haystack: 'essay', keyKind: 'words', valueKind: 'uuids', keys: 1, values: 1, queries: 1 },
  niah_multikey_1: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 4, values: 1, queries: 1 },
  niah_multikey_2: { haystack: 'needle', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_multikey_3: { haystack: 'needle', keyKind: 'uuids', valueKind: 'uuids', keys: 1, values: 1, queries: 1 },
  niah_multivalue: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 4, queries: 1 },
  niah_multiquery: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 4, values: 1, queries: 4 },
};

function randomOf(rng: Rng, kind: NeedleKind): string {
  if (kind === 'numbers') return randomDigits(rng, 7);
  if (kind === 'uuids') return randomUuid(rng);
  return `${pick(rng, ADJECTIVES)}-${pick(rng, NOUNS)}`;
}

/**
 * Builds one niah prompt with `n` haystack units (noise sentences, essay words, or
 * distractor needles). Keys, values and queries come first from the generator so they are
 * the same for every n.
 */
function buildNiah(cfg: NiahConfig, rng: Rng, n: number, essay: readonly string[] | undefined) {
  const keys: string[] = [];
  const values: string[][] = [];
  const needles: string[] = [];
  // RULER draws keys until they differ only implicitly; we insist, so answers are unambiguous
  while (keys.length < cfg.keys) {
    const key = randomOf(rng, cfg.keyKind);
    if (keys.includes(key)) continue;
    keys.push(key);
    const vals: string[] = [];
    for (let v = 0; v < cfg.values; v++) {
      vals.push(randomOf(rng, cfg.valueKind));
      needles.push(needleSentence(cfg.valueKind, key, vals.at(-1)!));
    }
    values.push(vals);
  }
  shuffle(rng, needles);
  const queried = sampleIndices(rng, cfg.keys, cfg.queries);
  const queries = queried.map((i) => keys[i]!);
  const answers = queried.flatMap((i) => values[i]!);

  let haystackText: string;
  const mode = cfg.haystack === 'essay' && !essay ? 'noise' : cfg.haystack;
  if (mode === 'essay') {
    const sentences = splitSentences(essayPrefix(essay!, n));
    const depths = sampleIndices(rng, DEPTHS.length, needles.length).map((i) => DEPTHS[i]!);
    haystackText = insertAtDepths(sentences, needles, depths);
  } else {
    const sentences: string[] = [];
    for (let i = 0; i < n; i++) {
      sentences.push(mode === 'noise' ? NOISE_HAYSTACK : needleSentence(cfg.valueKind, randomOf(rng, cfg.keyKind), randomOf(rng, cfg.valueKind)));
    }
    // RULER: random.sample(range(n), k) sorted descending, each needle inserted in turn
    const slots = sampleIndices(rng, Math.max(n, needles.length), needles.length).sort((a, b) => b - a);
    slots.forEach((pos, i) => sentences.splice(Math.min(pos, sentences.length), 0, needles[i]!));
    haystackText = sentences.join('\n');
  }
  const query = queries.length > 1 ? `${queries.slice(0, -1).join(', ')}, and ${queries.at(-1)}` : queries[0]!;
  const singular = cfg.queries * cfg.values === 1;
  return { ...niahPieces(cfg.valueKind, singular, haystackText, query), answers };
}

/** A niah prompt sized so prompt tokens + max_new_tokens fit `maxTokens`, as RULER sizes them. */
export function generateNiah(req: SyntheticRequest): RulerRow {
  const cfg = NIAH_TASKS[req.task];
  if (!cfg) throw new Error(`not a niah task: ${req.task}`);
  const fresh = promptRng(req);
  const maxNewTokens = maxNewTokensOf(req.task);
  const build = (n: number) => buildNiah(cfg, fresh(), n, req.essayWords);
  const tokens = (n: number) => {
    const p = build(n);
    return req.countTokens(p.context + p.question + p.answerPrefix) + maxNewTokens;
  };
  const n = largestFitting(tokens, req.maxTokens, req.task);
  const p = build(n);
  return { task: req.task, promptIdx: req.promptIdx, context: p.context, question: p.question, answerPrefix: p.answerPrefix, answers: p.answers, maxNewTokens };
}
