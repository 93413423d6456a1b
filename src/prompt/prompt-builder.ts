import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors.js';
import { prefillText, type PromptFormat } from './prefill-text.js';
import { readTokenizerFiles } from './tokenizer-files.js';

export type { PromptFormat } from './prefill-text.js';

export interface PrefillOptions {
  /** keep at most this many leading tokens (kvpress's max_context_length) */
  maxLength: number;
  promptFormat: PromptFormat;
}

/** Turns RULER contexts into the token ids kvpress prefills, for one model folder. */
export interface PromptBuilder {
  /** the text that is tokenized for the prefill (before truncation) */
  prefillText(context: string, promptFormat: PromptFormat): string;
  /** prefill token ids, truncated to maxLength; length = k_len */
  buildPrefillIds(context: string, options: PrefillOptions): Int32Array;
  /** token ids of `text` with no special tokens added (special-token text still maps to its id) */
  encode(text: string): Int32Array;
  /** number of tokens of `text`, no special tokens added: the budget measure of the generators */
  countTokens(text: string): number;
  /** decodes ids back to text, special tokens included */
  decode(ids: ArrayLike<number>): string;
  hasChatTemplate: boolean;
  bosToken: string | null;
}

/**
 * Loads tokenizer.json + tokenizer_config.json (and the chat template) from `modelDir`.
 * Throws UserError when the files are missing or the template does not parse.
 */
export function loadPromptBuilder(modelDir: string): PromptBuilder {
  const files = readTokenizerFiles(modelDir);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(files.tokenizerJson, files.tokenizerConfigJson);
  } catch (err) {
    throw new UserError(`cannot build the tokenizer of ${modelDir}: ${(err as Error).message}`);
  }
  let template: Template | null = null;
  if (files.chatTemplate !== null) {
    try {
      template = new Template(files.chatTemplate);
    } catch (err) {
      throw new UserError(`cannot parse the chat template of ${modelDir}: ${(err as Error).message}`);
    }
  }
  const encode = (text: string): Int32Array =>
    Int32Array.from(tokenizer.encode(text, { add_special_tokens: false }).ids);
  const textFor = (context: string, format: PromptFormat) => prefillText(context, format, template, files.specialTokens);
  return {
    prefillText: textFor,
    buildPrefillIds(context, { maxLength, promptFormat }) {
      if (!Number.isInteger(maxLength) || maxLength < 1) throw new UserError(`max length must be a positive integer, got ${maxLength}`);
      const ids = encode(textFor(context, promptFormat));
      return ids.length > maxLength ? ids.slice(0, maxLength) : ids;
    },
    encode,
    countTokens: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length,
    decode: (ids) => tokenizer.decode(Array.from(ids), { skip_special_tokens: false }),
    hasChatTemplate: template !== null,
    bosToken: files.specialTokens.bos_token ?? null,
  };
}
