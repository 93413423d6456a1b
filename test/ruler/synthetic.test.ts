import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildTinyTokenizer } from '../../src/prompt/tiny-tokenizer.js';
import { loadRulerRows } from '../../src/ruler/load.js';
import { NIAH_TASKS } from '../../src/ruler/synthetic/niah.js';
import { NOISE_HAYSTACK } from '../../src/ruler/templates.js';
import type { RulerRow } from '../../src/ruler/types.js';
import { UserError } from '../../src/errors.js';

const { tokenizerJson, tokenizerConfigJson } = buildTinyTokenizer(1024);
const tok = new Tokenizer(tokenizerJson, tokenizerConfigJson);
const countTokens = (t: string) => tok.encode(t, { add_special_tokens: false }).ids.length;
const BUDGET = 2048;
const tmp = mkdtempSync(join(tmpdir(), 'poc-ruler-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function gen(task: string, opts: { seed?: number; promptIdx?: number; maxTokens?: number; haystackFile?: string } = {}): Promise<RulerRow> {
  const [row] = await loadRulerRows({
    source: 'synthetic', task, promptIdx: [opts.promptIdx ?? 0], maxTokens: opts.maxTokens ?? BUDGET,
    countTokens, seed: opts.seed ?? 0, haystackFile: opts.haystackFile,
  });
  return row!;
}
const used = (r: RulerRow) => countTokens(r.context + r.question + r.answerPrefix) + r.maxNewTokens;
const occurrences = (text: string, s: string) => text.split(s).length - 1;

// RULER's scripts/synthetic.yaml, written out independently of the generator's table
// (keys = max(num_needle_k, num_needle_q)).
const RULER_NIAH: Record<string, { haystack: string; keyKind: string; valueKind: 'numbers' | 'uuids' | 'words'; keys: number; values: number; queries: number }> = {
  niah_single_1: { haystack: 'noise', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_single_2: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_single_3: { haystack: 'essay', keyKind: 'words', valueKind: 'uuids', keys: 1, values: 1, queries: 1 },
  niah_multikey_1: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 4, values: 1, queries: 1 },
  niah_multikey_2: { haystack: 'needle', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 1, queries: 1 },
  niah_multikey_3: { haystack: 'needle', keyKind: 'uuids', valueKind: 'uuids', keys: 1, values: 1, queries: 1 },
  niah_multivalue: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 1, values: 4, queries: 1 },
  niah_multiquery: { haystack: 'essay', keyKind: 'words', valueKind: 'numbers', keys: 4, values: 1, queries: 4 },
};

describe('synthetic niah tasks', () => {
  it('covers exactly the eight niah tasks', () => {
    expect(Object.keys(NIAH_TASKS).sort()).toEqual(Object.keys(RULER_NIAH).sort());
  });
  for (const [task, cfg] of Object.entries(RULER_NIAH)) {
    it(`${task}: template, needle counts, answers in context, seed, budget`, async () => {
      const row = await gen(task);
      const singular = cfg.values * cfg.queries === 1;
      const label = singular ? cfg.valueKind.slice(0, -1) : cfg.valueKind;
      expect(row.context.startsWith(singular
        ? `A special magic ${label} is hidden within the following text. Make sure to memorize it. I will quiz you about the ${label} afterwards.\n`
        : `Some special magic ${label} are hidden within the following text. Make sure to memorize it. I will quiz you about the ${label} afterwards.\n`)).toBe(true);
      expect(row.context.endsWith('\n')).toBe(true);
      expect(row.question).toMatch(new RegExp(`^What ${singular ? 'is' : 'are all'} the special magic ${label} for .+ mentioned in the provided text\\? $`));
      expect(row.answerPrefix).toMatch(new RegExp(`^The special magic ${label} for .+ mentioned in the provided text ${singular ? 'is' : 'are'}$`));
      expect(row.maxNewTokens).toBe(128);

      const query = /for (.+) mentioned/.exec(row.question)![1]!;
      const queried = query.split(/, and |, /);
      expect(queried).toHaveLength(cfg.queries);
      expect(row.answers).toHaveLength(cfg.queries * cfg.values);
      // every answer sits in a needle for one of the queried keys
      const needleRe = new RegExp(`One of the special magic ${cfg.valueKind} for (\\S+) is: (\\S+)\\.`, 'g');
      const needles = [...row.context.matchAll(needleRe)].map((m) => ({ key: m[1]!, value: m[2]! }));
      for (const a of row.answers) {
        expect(needles.some((n) => n.value === a && queried.includes(n.key))).toBe(true);
      }
      for (const q of queried) expect(needles.filter((n) => n.key === q)).toHaveLength(cfg.values);
      if (cfg.haystack !== 'needle') {
        expect(needles).toHaveLength(cfg.keys * cfg.values);
        expect(new Set(needles.map((n) => n.key)).size).toBe(cfg.keys);
        // no essay given: essay tasks fall back to the noise haystack
        expect(occurrences(row.context, NOISE_HAYSTACK)).toBeGreaterThan(10);
      } else {
        expect(needles.length).toBeGreaterThan(10);
      }
      const valueRe: Record<string, RegExp> = { numbers: /^\d{7}$/, uuids: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, words: /^[a-z]+-[a-z]+$/ };
      for (const a of row.answers) expect(a).toMatch(valueRe[cfg.valueKind]!);
      for (const q of queried) expect(q).toMatch(valueRe[cfg.keyKind]!);

      expect(await gen(task)).toEqual(row);
      expect((await gen(task, { seed: 1 })).context).not.toBe(row.context);
      expect((await gen(task, { promptIdx: 1 })).answers).not.toEqual(row.answers);

      // the budget is met to within one haystack unit (a noise block or a distractor needle)
      const unit = cfg.haystack === 'needle' ? countTokens(`${needles[0]!.key} ${needles[0]!.value}`) + 20 : countTokens(NOISE_HAYSTACK) + 2;
      expect(used(row)).toBeLessThanOrEqual(BUDGET);
      expect(used(row)).toBeGreaterThan(BUDGET - unit);
    });
  }

  it('puts needles between essay sentences when a haystack file is given', async () => {
    const essay = Array.from({ length: 300 }, (_, i) => `Founders learn by doing things number ${i} that do not scale.`).join(' ');
    const file = join(tmp, 'essay.txt');
    writeFileSync(file, essay);
    const row = await gen('niah_multikey_1', { haystackFile: file });
    expect(row.context).toContain('Founders learn by doing things number 0 that do not scale.');
    expect(row.context).not.toContain(NOISE_HAYSTACK);
    const needles = [...row.context.matchAll(/(\S+) (One of the special magic numbers for \S+ is: \d{7}\.)/g)];
    expect(needles).toHaveLength(4);
    // each needle follows a whole sentence (or starts the haystack)
    for (const m of needles) expect(m[1]!.endsWith('.') || m[1]!.endsWith('\n') || m[1] === 'afterwards.').toBe(true);
    expect(used(row)).toBeLessThanOrEqual(BUDGET);
    expect(used(row)).toBeGreaterThan(BUDGET - 20);
  });
});

describe('synthetic vt, cwe, fwe', () => {
  it('vt: one solved example, then a 4-hop chain in order; answers are the 5 variables', async () => {
    const row = await gen('vt');
    const task = 'Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n';
    expect(row.context.startsWith(task)).toBe(true);
    expect(occurrences(row.context, task)).toBe(2);
    const [example, main] = row.context.split(task).slice(1) as [string, string];
    const exampleAnswer = /they are: {2}([A-Z]{3}(?: [A-Z]{3}){4})\n\n$/.exec(example);
    expect(exampleAnswer).not.toBeNull();
    expect(row.answers).toHaveLength(5);
    for (const a of row.answers) expect(a).toMatch(/^[A-Z]{5}$/);
    const value = /assigned the value (\d{5}) in the text above/.exec(row.question)![1]!;
    const statements = [`VAR ${row.answers[0]} = ${value}\n`, ...row.answers.slice(1).map((v, j) => `VAR ${v} = VAR ${row.answers[j]} \n`)];
    let at = -1;
    for (const s of statements) {
      const next = main.indexOf(s);
      expect(next).toBeGreaterThan(at);
      at = next;
    }
    expect(row.answerPrefix).toBe(`Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value ${value}, they are: `);
    expect(row.maxNewTokens).toBe(30);
    expect(await gen('vt')).toEqual(row);
    expect((await gen('vt', { seed: 3 })).answers).not.toEqual(row.answers);
    expect(used(row)).toBeLessThanOrEqual(BUDGET);
    expect(used(row)).toBeGreaterThan(BUDGET - countTokens(NOISE_HAYSTACK) - 2);
  });

  it('cwe: the 10 answers appear 30 times, every other word 3 times (4K budget), numbered in order', async () => {
    const budget = 4096;
    const row = await gen('cwe', { maxTokens: budget });
    const intro = 'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n';
    expect(occurrences(row.context, intro)).toBe(2);
    const main = row.context.split(intro)[2]!.trimEnd();
    const items = main.split(/ ?\d+\. /).slice(1);
    expect(main.startsWith('1. ')).toBe(true);
    expect([...main.matchAll(/(\d+)\. /g)].map((m) => Number(m[1]))).toEqual(items.map((_, i) => i + 1));
    const counts = new Map<string, number>();
    for (const w of items) counts.set(w, (counts.get(w) ?? 0) + 1);
    expect(row.answers).toHaveLength(10);
    for (const a of row.answers) expect(counts.get(a)).toBe(30);
    for (const [w, c] of counts) if (!row.answers.includes(w)) expect(c).toBe(3);
    expect(row.question).toBe('Question: What are the 10 most common words in the above list? ');
    expect(row.answerPrefix).toBe('Answer: The top 10 words that appear most often in the list are:');
    expect(await gen('cwe', { maxTokens: budget })).toEqual(row);
    // one more distinct word adds three numbered items
    expect(used(row)).toBeLessThanOrEqual(budget);
    expect(used(row)).toBeGreaterThan(budget - 3 * countTokens(' 9999. xylophones'));
  });

  it('fwe: Zipf counts with "..." first and the answers ranked 2-4', async () => {
    const row = await gen('fwe');
    expect(row.context.startsWith('Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. ')).toBe(true);
    const words = row.context.trimEnd().split('coded words. ')[1]!.split(' ');
    const counts = new Map<string, number>();
    for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
    const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    expect(ranked[0]![0]).toBe('...');
    expect(row.answers).toHaveLength(3);
    expect(ranked.slice(1, 4).map(([w]) => w).sort()).toEqual([...row.answers].sort());
    // Zipf(2): rank k appears floor(N k^-2 / zeta(2)) times
    const n = words.length;
    const c1 = counts.get('...')!;
    const c2 = counts.get(row.answers[0]!)!;
    expect(Math.abs(c1 / c2 - 4)).toBeLessThan(0.5);
    for (const w of words) if (w !== '...') expect(w).toMatch(/^[a-z]{6}$/);
    expect(n).toBeGreaterThan(100);
    expect(await gen('fwe')).toEqual(row);
    expect(used(row)).toBeLessThanOrEqual(BUDGET);
    expect(used(row)).toBeGreaterThan(BUDGET - 30);
  });
});

describe('bad synthetic requests', () => {
  it('qa tasks point at the hub or a local parquet', async () => {
    await expect(gen('qa_1')).rejects.toThrow(/qa_1 is built from SQuAD.*--source hub.*local parquet/);
  });
  it('unknown tasks list the valid ones', async () => {
    await expect(gen('niah_single_9')).rejects.toThrow(UserError);
    await expect(gen('niah_single_9')).rejects.toThrow(/unknown RULER task "niah_single_9"; valid tasks: niah_single_1, .*, qa_2/);
  });
  it('prompt_idx beyond the 500 rows of a task is refused', async () => {
    await expect(gen('vt', { promptIdx: 500 })).rejects.toThrow(/prompt_idx 500 is out of range/);
  });
  it('a budget too small for the task is refused', async () => {
    await expect(gen('cwe', { maxTokens: 200 })).rejects.toThrow(/token budget of 200 is too small for cwe/);
  });
});
