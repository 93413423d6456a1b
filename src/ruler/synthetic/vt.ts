import type { Rng } from '../../util/rng.js';
import { maxNewTokensOf } from '../tasks.js';
import { NOISE_HAYSTACK, vtExample, vtPieces } from '../templates.js';
import type { RulerRow } from '../types.js';
import { largestFitting } from './budget.js';
import { DEPTHS, essayPrefix, insertAtDepths, splitSentences } from './haystack.js';
import { randomDigits, randomUpper, sampleIndices } from './random.js';
import { promptRng, type SyntheticRequest } from './request.js';

/** RULER's vt: one chain of four hops (five variables), noise haystack. */
export const VT_CHAINS = 1;
export const VT_HOPS = 4;
/** RULER sizes the in-context example to 500 tokens with no generation budget. */
const EXAMPLE_TOKENS = 500;

interface Chain {
  names: string[];
  value: string;
  /** "VAR A = 12345", then "VAR B = VAR A " ... (RULER keeps the trailing space) */
  statements: string[];
}

function makeChain(rng: Rng, nameLength: number, value: string, used: Set<string>): Chain {
  const names: string[] = [];
  while (names.length < VT_HOPS + 1) {
    const name = randomUpper(rng, nameLength);
    if (used.has(name)) continue;
    used.add(name);
    names.push(name);
  }
  const statements = [`VAR ${names[0]} = ${value}`];
  for (let j = 0; j < VT_HOPS; j++) statements.push(`VAR ${names[j + 1]} = VAR ${names[j]} `);
  return { names, value, statements };
}

/** Chain statements spread over `n` haystack units (noise lines or essay words). */
function haystackWithChain(rng: Rng, chain: Chain, n: number, essay: readonly string[] | undefined): string {
  if (essay) {
    const sentences = splitSentences(essayPrefix(essay, n));
    const depths = sampleIndices(rng, DEPTHS.length, chain.statements.length).map((i) => DEPTHS[i]!);
    return insertAtDepths(sentences, chain.statements.map((s) => `${s.trim()}.`), depths).replaceAll('. \n', '.\n');
  }
  const lines: string[] = Array.from({ length: n }, () => NOISE_HAYSTACK);
  const total = Math.max(n, chain.statements.length);
  const positions = sampleIndices(rng, total, chain.statements.length).sort((a, b) => a - b);
  // RULER inserts statement j at position p_j + j, so the chain keeps its order
  positions.forEach((p, j) => lines.splice(Math.min(p + j, lines.length), 0, chain.statements[j]!));
  return lines.join('\n').replaceAll('. \n', '.\n');
}

/**
 * A vt prompt: a solved in-context example (3-letter names, ~500 tokens) then the task
 * (5-letter names) sized to the budget; the answer is the five variable names.
 */
export function generateVt(req: SyntheticRequest): RulerRow {
  const fresh = promptRng(req);
  const maxNewTokens = maxNewTokensOf(req.task);
  const build = (exampleN: number, n: number) => {
    const rng = fresh();
    const used = new Set<string>();
    const exampleChain = makeChain(rng, 3, randomDigits(rng, 5), used);
    const chain = makeChain(rng, 5, randomDigits(rng, 5), used);
    const exampleHay = haystackWithChain(rng, exampleChain, exampleN, undefined);
    const example = vtExample(exampleHay, exampleChain.value, exampleChain.names);
    const main = vtPieces(example, haystackWithChain(rng, chain, n, req.essayWords), chain.value, VT_HOPS + 1);
    return { example, ...main, answers: chain.names };
  };
  const exampleN = largestFitting((m) => {
    const b = build(m, 1);
    return req.countTokens(b.example.slice(0, b.example.lastIndexOf(' they are: ') + ' they are: '.length));
  }, EXAMPLE_TOKENS, 'the vt in-context example');
  const tokens = (n: number) => {
    const b = build(exampleN, n);
    return req.countTokens(b.context + b.question + b.answerPrefix) + maxNewTokens;
  };
  const n = largestFitting(tokens, req.maxTokens, req.task);
  const b = build(exampleN, n);
  return { task: req.task, promptIdx: req.promptIdx, context: b.context, question: b.question, answerPrefix: b.answerPrefix, answers: b.answers, maxNewTokens };
}
