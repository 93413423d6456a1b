import { createRng } from '../util/rng.js';
import { ADJECTIVES, NOUNS, VERBS } from '../ruler/words.js';
import { NOISE_HAYSTACK, needleSentence } from '../ruler/templates.js';

/**
 * A small RULER-flavoured English text, built the same way every time, that the tiny
 * tokenizer learns its merges from: the noise haystack, needles, task instructions,
 * numbered word lists and plain prose, so that these prompts take few tokens each.
 */
export function tinyTrainingText(): string {
  const rng = createRng(20240726);
  const pick = (list: readonly string[]) => list[rng.int(list.length)]!;
  const parts: string[] = [];
  for (let i = 0; i < 40; i++) parts.push(NOISE_HAYSTACK);
  for (let i = 0; i < 60; i++) {
    const key = `${pick(ADJECTIVES)}-${pick(NOUNS)}`;
    const value = String(1000000 + rng.int(9000000));
    parts.push(needleSentence(i % 2 === 0 ? 'numbers' : 'number', key, value));
  }
  parts.push(
    'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.',
    'Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.',
    'What are all the special magic numbers for this key mentioned in the provided text?',
    'Memorize and track the chain(s) of variable assignment hidden in the following text.',
    'Question: Find all variables that are assigned the value in the text above.',
    'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.',
    'Question: What are the 10 most common words in the above list?',
    'Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words.',
    'Answer the question based on the given documents. Only give me the answer and do not output any other words.',
    'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n',
    PROSE,
  );
  for (let i = 0; i < 30; i++) parts.push(`VAR ${letters(rng, 5)} = ${10000 + rng.int(90000)}`);
  const all = [...NOUNS, ...ADJECTIVES, ...VERBS];
  parts.push(all.map((w, i) => `${i + 1}. ${w}`).join(' '));
  return parts.join('\n');
}

function letters(rng: ReturnType<typeof createRng>, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(65 + rng.int(26));
  return s;
}

// Plain prose so ordinary words (the essay haystack, questions) are covered too.
const PROSE = `When people start a new project they often think the hard part is the idea. It is not.
The hard part is the work that comes after: finding out what users want, building something
small that they can try, and changing it again and again until it is good. Most of the time
you will be wrong about what matters, and that is fine, because being wrong early is cheap.
The best founders I have known were not the ones with the most money or the best plans; they
were the ones who kept going when things did not work, who talked to their users every day,
and who were willing to do things that did not scale. If you want to write well, write about
what you know, and cut every word that does not help the reader. There and back again, the
river runs through the old town, past the market and the school, and out into the sea.`;
