import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** What a model folder says about its tokenizer: the two JSON files and the chat template. */
export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfigJson: Record<string, unknown>;
  /** Jinja source of the default chat template, or null when the model has none. */
  chatTemplate: string | null;
  /** Special-token strings the template may use (bos_token, eos_token, ...). */
  specialTokens: Record<string, string>;
}

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/**
 * Reads tokenizer.json and tokenizer_config.json from `modelDir`; the chat template comes
 * from chat_template.jinja when present (newer exports), else from the config.
 */
export function readTokenizerFiles(modelDir: string): TokenizerFiles {
  const tokenizerJson = readJson(join(modelDir, 'tokenizer.json'));
  const tokenizerConfigJson = readJson(join(modelDir, 'tokenizer_config.json'));
  const specialTokens: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const text = tokenText(tokenizerConfigJson[key]);
    if (text !== null) specialTokens[key] = text;
  }
  const jinjaPath = join(modelDir, 'chat_template.jinja');
  const chatTemplate = existsSync(jinjaPath)
    ? readFileSync(jinjaPath, 'utf8')
    : defaultTemplate(tokenizerConfigJson.chat_template);
  return { tokenizerJson, tokenizerConfigJson, chatTemplate, specialTokens };
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`cannot read ${path}: a model folder needs tokenizer.json and tokenizer_config.json`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`${path} is not a JSON object (${(err as Error).message})`);
  }
}

// Special tokens are stored either as plain strings or as serialized AddedToken objects.
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

// chat_template is a string, or a list of {name, template} of which "default" is used.
function defaultTemplate(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as Array<{ name?: unknown; template?: unknown }>;
    const found = named.find((t) => t.name === 'default');
    return typeof found?.template === 'string' ? found.template : null;
  }
  return null;
}
