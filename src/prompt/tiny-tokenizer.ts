import { tinyTrainingText } from './tiny-corpus.js';

/**
 * A small Llama-3-style tokenizer for the tiny test model: byte-level BPE (256 byte tokens,
 * then merges learned from a fixed RULER-like text), Llama-3's pre-tokenizer regex, and the
 * five Llama-3 special tokens at the top of the vocab, so the whole prompt path (chat
 * template, special tokens, BOS) runs exactly as with the real 128K tokenizer.
 */

/** Llama-3's split pattern (Oniguruma syntax, as in its tokenizer.json). */
export const LLAMA3_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern in JavaScript syntax, for learning merges. */
const SPLIT_JS = /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Special tokens in the order they take the top ids (the last is vocabSize - 1). */
export const TINY_SPECIAL_TOKENS = [
  '<|begin_of_text|>',
  '<|end_of_text|>',
  '<|start_header_id|>',
  '<|end_header_id|>',
  '<|eot_id|>',
] as const;

const BYTE_TOKENS = 256;
/** Smallest vocab: the byte tokens plus the special tokens. */
export const TINY_MIN_VOCAB = BYTE_TOKENS + TINY_SPECIAL_TOKENS.length;

/**
 * A Llama-3.1-Instruct-style chat template: BOS, a system header carrying the knowledge
 * cutoff and a fixed date, then each turn with its content trimmed. For messages without
 * tools it renders byte for byte what the real Llama-3.1 template renders.
 */
export const LLAMA31_STYLE_CHAT_TEMPLATE = [
  '{{- bos_token }}',
  '{%- if not date_string is defined %}{%- set date_string = "26 Jul 2024" %}{%- endif %}',
  "{%- if messages[0]['role'] == 'system' %}",
  "{%- set system_message = messages[0]['content'] | trim %}",
  '{%- set loop_messages = messages[1:] %}',
  '{%- else %}',
  '{%- set system_message = "" %}',
  '{%- set loop_messages = messages %}',
  '{%- endif %}',
  '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}',
  '{{- "Cutting Knowledge Date: December 2023\\n" }}',
  '{{- "Today Date: " + date_string + "\\n\\n" }}',
  '{{- system_message }}',
  '{{- "<|eot_id|>" }}',
  '{%- for message in loop_messages %}',
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}",
  '{%- endfor %}',
  '{%- if add_generation_prompt %}',
  "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
  '{%- endif %}',
].join('\n');

/**
 * Builds tokenizer.json and tokenizer_config.json for a vocab of `vocabSize` ids
 * (>= 261). Deterministic: the same vocabSize always gives the same JSON.
 */
export function buildTinyTokenizer(vocabSize: number): { tokenizerJson: object; tokenizerConfigJson: object } {
  if (!Number.isInteger(vocabSize) || vocabSize < TINY_MIN_VOCAB) {
    throw new RangeError(`tiny tokenizer needs an integer vocab size >= ${TINY_MIN_VOCAB}, got ${vocabSize}`);
  }
  const baseSize = vocabSize - TINY_SPECIAL_TOKENS.length;
  const byteChars = byteToUnicode();
  const vocab: Record<string, number> = {};
  for (let b = 0; b < BYTE_TOKENS; b++) vocab[byteChars[b]!] = b;
  const merges = learnMerges(tinyTrainingText(), byteChars, baseSize - BYTE_TOKENS);
  let nextId = BYTE_TOKENS;
  for (const [a, b] of merges) {
    // two merge paths can spell the same token ("ab"+"c", "a"+"bc"): one id for both
    if (vocab[a + b] === undefined) vocab[a + b] = nextId++;
  }
  // Ids between the learned merges and the specials (when the text runs out of pairs) get
  // tokens that no pre-token can spell (they contain '<|' and '|>', split apart by the
  // regex), so the vocab stays contiguous without growing the added-token list.
  for (let i = 0; nextId < baseSize; i++) vocab[`<|unused_${i}|>`] = nextId++;

  const addedTokens = TINY_SPECIAL_TOKENS.map((content, i) => ({
    id: baseSize + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const bosId = baseSize;
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
          ],
          pair: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: {
            '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [bosId], tokens: ['<|begin_of_text|>'] },
          },
        },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
  const addedTokensDecoder: Record<string, object> = {};
  for (const t of addedTokens) {
    const { id, ...rest } = t;
    addedTokensDecoder[String(id)] = rest;
  }
  const tokenizerConfigJson = {
    added_tokens_decoder: addedTokensDecoder,
    bos_token: '<|begin_of_text|>',
    eos_token: '<|eot_id|>',
    chat_template: LLAMA31_STYLE_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: true,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 131072,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizerJson, tokenizerConfigJson };
}

/** GPT-2's reversible byte -> printable character map used by byte-level BPE. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const isPrintable = new Set(printable);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCodePoint(isPrintable.has(b) ? b : 256 + extra++);
  }
  return out;
}

/**
 * Classic BPE training: split into pre-tokens, then repeatedly merge the most frequent
 * adjacent pair (ties broken by the pair's text, so the result never depends on Map order).
 * Pair counts are updated only for the words a merge touches, which keeps a 4K vocab
 * well under a second.
 */
function learnMerges(text: string, byteChars: string[], maxNewTokens: number): Array<[string, string]> {
  const wordCounts = new Map<string, number>();
  const encoder = new TextEncoder();
  for (const m of text.matchAll(SPLIT_JS)) {
    const mapped = Array.from(encoder.encode(m[0]), (b) => byteChars[b]!).join('');
    wordCounts.set(mapped, (wordCounts.get(mapped) ?? 0) + 1);
  }
  // symbols are ids into `symbolText`; a pair is the number a * PAIR + b
  const symbolText: string[] = [];
  const symbolId = new Map<string, number>();
  const idOf = (t: string) => {
    let id = symbolId.get(t);
    if (id === undefined) {
      id = symbolText.length;
      symbolText.push(t);
      symbolId.set(t, id);
    }
    return id;
  };
  const PAIR = 1 << 20;
  const words = [...wordCounts.entries()].map(([w, count]) => ({ symbols: Array.from(w, idOf), count }));
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number) => {
    const { symbols, count } = words[wi]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i]! * PAIR + symbols[i + 1]!;
      const c = (pairCounts.get(key) ?? 0) + sign * count;
      if (c === 0) pairCounts.delete(key);
      else pairCounts.set(key, c);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));
  // (a, b) before (c, d) when "a\0b" < "c\0d": compare a with c, then b with d
  const before = (x: number, y: number) => {
    const xa = symbolText[Math.floor(x / PAIR)]!;
    const ya = symbolText[Math.floor(y / PAIR)]!;
    if (xa !== ya) return xa < ya;
    return symbolText[x % PAIR]! < symbolText[y % PAIR]!;
  };
  const merges: Array<[string, string]> = [];
  const newTokens = new Set<string>();
  while (newTokens.size < maxNewTokens) {
    let best = -1;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best >= 0 && before(key, best))) {
        best = key;
        bestCount = count;
      }
    }
    if (best < 0) break;
    const a = Math.floor(best / PAIR);
    const b = best % PAIR;
    const merged = symbolText[a]! + symbolText[b]!;
    merges.push([symbolText[a]!, symbolText[b]!]);
    newTokens.add(merged);
    const mergedId = idOf(merged);
    for (const wi of pairWords.get(best) ?? []) {
      const s = words[wi]!.symbols;
      addPairs(wi, -1);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(mergedId);
          i++;
        } else {
          out.push(s[i]!);
        }
      }
      words[wi]!.symbols = out;
      addPairs(wi, 1);
    }
    pairWords.delete(best);
  }
  return merges;
}
