import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planModelFolder, TINY_DEFAULTS, type ModelFolderPlan } from '../../src/model/tiny/make-tiny-model.js';
import { loadPromptBuilder, type PromptBuilder } from '../../src/prompt/prompt-builder.js';
import { generateSynthetic } from '../../src/ruler/synthetic/index.js';
import { maxNewTokensOf } from '../../src/ruler/tasks.js';
import { PYTHON_BPE } from '../helpers/bpe-reference.js';
import { requirePython, runPythonJson } from '../helpers/python.js';

// meta-llama/Llama-3.1-8B-Instruct's config.json as published on the hub, written out here
const LLAMA31_8B_INSTRUCT_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.3',
  use_cache: true,
  vocab_size: 128256,
};

// what Llama-3.1-Instruct's template renders before a user message, with no system message
const LLAMA31_HEADER =
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
  'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\n';

const presetOptions = { ...TINY_DEFAULTS, layers: undefined, dtype: 'float16' as const, preset: 'llama-3.1-8b' as const };

let dir: string;
let plan: ModelFolderPlan;
let builder: PromptBuilder;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poc-preset-'));
  plan = await planModelFolder(presetOptions);
  for (const [name, bytes] of plan.smallFiles) writeFileSync(join(dir, name), bytes);
  builder = loadPromptBuilder(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pythonIds = (texts: string[]) => runPythonJson<number[][]>(PYTHON_BPE, { tokenizer: join(dir, 'tokenizer.json'), texts });

describe('make-tiny-model --preset llama-3.1-8b', () => {
  it("writes Llama-3.1-8B-Instruct's config.json, field for field; --layers changes only the depth", async () => {
    expect(plan.config).toStrictEqual(LLAMA31_8B_INSTRUCT_CONFIG);
    const two = await planModelFolder({ ...presetOptions, layers: 2 });
    expect(two.config).toStrictEqual({ ...LLAMA31_8B_INSTRUCT_CONFIG, num_hidden_layers: 2 });
    expect(two.dims).toMatchObject({ nLayers: 2, hiddenSize: 4096, nHeads: 32, nKvHeads: 8, headDim: 128, intermediateSize: 14336, vocabSize: 128256 });
    expect(two.dtype).toBe('float16');
  });

  it("has Llama-3.1's special tokens at their ids", () => {
    const cases: Array<[string, number]> = [
      ['<|begin_of_text|>', 128000],
      ['<|end_of_text|>', 128001],
      ['<|finetune_right_pad_id|>', 128004],
      ['<|start_header_id|>', 128006],
      ['<|end_header_id|>', 128007],
      ['<|eom_id|>', 128008],
      ['<|eot_id|>', 128009],
      ['<|python_tag|>', 128010],
      ['<|reserved_special_token_3|>', 128011],
      ['<|reserved_special_token_247|>', 128255],
    ];
    for (const [text, id] of cases) expect([...builder.encode(text)]).toEqual([id]);
    expect(builder.decode([128000, 128006])).toBe('<|begin_of_text|><|start_header_id|>');
  });

  it('encodes ordinary text as an independent tiktoken-style BPE in Python does', () => {
    requirePython(['regex']);
    const texts = [
      'Hello world',
      ' The quick brown fox jumps over the lazy dog.',
      "One of the special magic numbers for long-context is: 4829173. What's it?",
      'naïve café — 東京 1234567 \n\n  indented\tline',
    ];
    const want = pythonIds(texts);
    texts.forEach((t, i) => expect([...builder.encode(t)]).toEqual(want[i]));
    // ids of Meta's vocabulary for two plain words
    expect([...builder.encode('Hello world')]).toEqual([9906, 1917]);
  });

  it("renders Llama-3.1-Instruct's chat header around the context", () => {
    expect(builder.prefillText('Some context.', 'chat')).toBe(`${LLAMA31_HEADER}Some context.`);
    const ids = [...builder.buildPrefillIds('Some context.', { maxLength: 16384, promptFormat: 'chat' })];
    expect(ids.slice(0, 2)).toEqual([128000, 128006]);
    expect(ids.filter((x) => x === 128009)).toHaveLength(1);
  });

  it('a synthetic RULER prompt at --max-length 16384 lands within the budget, tokenized as the Python BPE does', () => {
    requirePython(['regex']);
    const task = 'niah_multikey_1';
    const row = generateSynthetic({ task, promptIdx: 0, maxTokens: 16384, countTokens: builder.countTokens, seed: 0 });
    const ids = builder.buildPrefillIds(row.context, { maxLength: 16384, promptFormat: 'chat' });
    const headerTokens = builder.encode(LLAMA31_HEADER).length;
    // RULER's budget: context + answer tokens <= 16384; the chat header comes on top
    expect(builder.countTokens(row.context) + maxNewTokensOf(task)).toBeLessThanOrEqual(16384);
    expect(ids.length).toBeLessThanOrEqual(16384 - maxNewTokensOf(task) + headerTokens);
    expect(ids.length).toBeGreaterThan(16384 * 0.95);
    expect([...ids]).toEqual(pythonIds([builder.prefillText(row.context, 'chat')])[0]);
  });
});
