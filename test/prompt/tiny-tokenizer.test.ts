import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildTinyTokenizer, byteToUnicode, TINY_SPECIAL_TOKENS } from '../../src/prompt/tiny-tokenizer.js';

type TokJson = {
  model: { vocab: Record<string, number>; merges: Array<[string, string]> };
  added_tokens: Array<{ id: number; content: string; special: boolean }>;
};

// Independent reference: plain rank-ordered BPE over whitespace-free pre-tokens.
function referenceBpe(json: TokJson, word: string): number[] {
  const chars = byteToUnicode();
  let symbols = Array.from(new TextEncoder().encode(word), (b) => chars[b]!);
  const rank = new Map(json.model.merges.map(([a, b], i) => [`${a} ${b}`, i]));
  if (json.model.vocab[symbols.join('')] !== undefined) return [json.model.vocab[symbols.join('')]!];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = rank.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0) break;
    symbols = [...symbols.slice(0, best), symbols[best]! + symbols[best + 1]!, ...symbols.slice(best + 2)];
  }
  return symbols.map((s) => json.model.vocab[s]!);
}

describe('tiny tokenizer', () => {
  const vocabSize = 1024;
  const built = buildTinyTokenizer(vocabSize);
  const json = built.tokenizerJson as unknown as TokJson;
  const tok = new Tokenizer(built.tokenizerJson, built.tokenizerConfigJson);

  it('is deterministic for a given vocab size', () => {
    expect(JSON.stringify(buildTinyTokenizer(vocabSize))).toBe(JSON.stringify(built));
    expect(JSON.stringify(buildTinyTokenizer(700))).not.toBe(JSON.stringify(built));
  });

  it('puts the five special tokens at the top of a contiguous vocab', () => {
    const ids = Object.values(json.model.vocab).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: vocabSize - 5 }, (_, i) => i));
    expect(json.added_tokens.map((t) => [t.content, t.id])).toEqual(
      TINY_SPECIAL_TOKENS.map((t, i) => [t, vocabSize - 5 + i]),
    );
    for (const t of TINY_SPECIAL_TOKENS) expect(tok.token_to_id(t)).toBeLessThan(vocabSize);
  });

  it('encodes specials as single ids, round-trips text, and adds BOS only when asked', () => {
    const text = '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nThe grass is green. héllo 🙂 don\'t 1234567<|eot_id|>';
    const enc = tok.encode(text, { add_special_tokens: false });
    expect(enc.ids[0]).toBe(vocabSize - 5);
    expect(enc.ids[1]).toBe(vocabSize - 3);
    expect(enc.ids.at(-1)).toBe(vocabSize - 1);
    expect(Math.max(...enc.ids)).toBeLessThan(vocabSize);
    expect(tok.decode(enc.ids)).toBe(text);
    expect(tok.encode('hi').ids[0]).toBe(vocabSize - 5);
    expect(tok.encode('hi', { add_special_tokens: false }).ids[0]).not.toBe(vocabSize - 5);
  });

  it('makes common RULER words single tokens and agrees with a reference BPE', () => {
    for (const w of [' grass', ' special', ' magic', ' numbers', 'The']) {
      expect(tok.encode(w, { add_special_tokens: false }).ids).toHaveLength(1);
    }
    for (const w of ['quiet', 'harbor', 'xylophonist', 'green', 'VAR']) {
      expect(tok.encode(w, { add_special_tokens: false }).ids).toEqual(referenceBpe(json, w));
    }
  });

  it('rejects a vocab smaller than bytes plus specials', () => {
    expect(() => buildTinyTokenizer(260)).toThrow(/vocab size/);
  });
});
