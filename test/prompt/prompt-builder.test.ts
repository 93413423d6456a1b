import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildTinyTokenizer } from '../../src/prompt/tiny-tokenizer.js';
import { loadPromptBuilder } from '../../src/prompt/prompt-builder.js';
import { UserError } from '../../src/errors.js';

const dirs: string[] = [];
function modelDir(vocabSize: number, edit?: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'poc-prompt-'));
  dirs.push(dir);
  const { tokenizerJson, tokenizerConfigJson } = buildTinyTokenizer(vocabSize);
  edit?.(tokenizerConfigJson as Record<string, unknown>);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson));
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

// Written out by hand from the Llama-3.1-Instruct prompt format: BOS, system header with the
// knowledge cutoff and the template's fixed date, then the user header; kvpress cuts before
// the user turn's end, and the template's trim removes only the leading whitespace.
const CONTEXT = '  \nSome special magic numbers are hidden within the following text.\nThe grass is green.  \n';
const EXPECTED_CHAT =
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
  'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
  '<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n' +
  'Some special magic numbers are hidden within the following text.\nThe grass is green.  \n';

describe('prompt builder', () => {
  const dir = modelDir(1024);
  const builder = loadPromptBuilder(dir);
  const { tokenizerJson, tokenizerConfigJson } = buildTinyTokenizer(1024);
  const reference = new Tokenizer(tokenizerJson, tokenizerConfigJson);

  it('renders the kvpress chat prefill text byte for byte', () => {
    expect(builder.prefillText(CONTEXT, 'chat')).toBe(EXPECTED_CHAT);
    expect(builder.prefillText(CONTEXT, 'raw')).toBe('<|begin_of_text|>' + CONTEXT);
  });

  it('tokenizes the prefill without extra specials: one BOS, the header inside the first 16 tokens', () => {
    const ids = builder.buildPrefillIds(CONTEXT, { maxLength: 16384, promptFormat: 'chat' });
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual(reference.encode(EXPECTED_CHAT, { add_special_tokens: false }).ids);
    const bos = reference.token_to_id('<|begin_of_text|>');
    expect(ids[0]).toBe(bos);
    expect(Array.from(ids).filter((i) => i === bos)).toHaveLength(1);
    expect(builder.decode(ids)).toBe(EXPECTED_CHAT);
    const userHeader = builder.encode('<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n');
    const at = Array.from(ids).findIndex((_, i) => userHeader.every((u, j) => ids[i + j] === u));
    expect(at).toBeGreaterThan(5);
    const raw = builder.buildPrefillIds(CONTEXT, { maxLength: 16384, promptFormat: 'raw' });
    expect(raw[0]).toBe(bos);
    expect(builder.decode(raw)).toBe('<|begin_of_text|>' + CONTEXT);
  });

  it('truncates to max_length leading tokens', () => {
    const full = builder.buildPrefillIds(CONTEXT, { maxLength: 100000, promptFormat: 'chat' });
    const cut = builder.buildPrefillIds(CONTEXT, { maxLength: 20, promptFormat: 'chat' });
    expect(full.length).toBeGreaterThan(20);
    expect(Array.from(cut)).toEqual(Array.from(full.slice(0, 20)));
    expect(builder.countTokens(EXPECTED_CHAT)).toBe(full.length);
  });

  it('falls back to BOS + context when the model has no chat template', () => {
    const plain = loadPromptBuilder(modelDir(512, (c) => delete c.chat_template));
    expect(plain.hasChatTemplate).toBe(false);
    expect(plain.prefillText('abc', 'chat')).toBe('<|begin_of_text|>abc');
  });

  it('reads the chat template from chat_template.jinja when present', () => {
    const d = modelDir(512);
    writeFileSync(join(d, 'chat_template.jinja'), "{{ bos_token }}[{{ messages[0]['content'] }}]");
    expect(loadPromptBuilder(d).prefillText('xyz', 'chat')).toBe('<|begin_of_text|>[xyz');
  });

  it('says which file is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'poc-prompt-'));
    dirs.push(empty);
    expect(() => loadPromptBuilder(empty)).toThrow(UserError);
    expect(() => loadPromptBuilder(empty)).toThrow(/tokenizer\.json/);
  });
});
