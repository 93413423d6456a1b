import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { UserError } from '../errors.js';
import type { LlamaConfig } from './config.js';
import { buildOptimumExport, type BuiltExport } from './export-optimum.js';
import { buildGenaiExport } from './export-genai.js';
import { toHalfArray } from './half.js';
import { encodeSafetensors } from './safetensors.js';
import { drawTinyWeights } from './tiny-weights.js';

/** Options of `poc make-tiny-model` (sizes of the model and how to export it). */
export interface MakeTinyModelOptions {
  out: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPosition: number;
  ropeTheta: number;
  seed: number;
  dtype: 'float32' | 'float16';
  style: 'optimum' | 'genai';
}

/** What was written: the folder and each file's name and size in bytes. */
export interface MakeTinyModelResult {
  dir: string;
  files: Array<{ name: string; bytes: number }>;
  /** false when src/prompt/tiny-tokenizer is not available in this build */
  withTokenizer: boolean;
}

/** Defaults of the CLI, for callers (tests, demo) that set only a few options. */
export const TINY_DEFAULTS: Omit<MakeTinyModelOptions, 'out'> = {
  layers: 2,
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  intermediate: 128,
  vocab: 512,
  maxPosition: 131072,
  ropeTheta: 500000,
  seed: 0,
  dtype: 'float32',
  style: 'optimum',
};

/** Number of special tokens the tiny tokenizer puts at the top of the vocab. */
const N_SPECIAL = 5;

/** The LlamaConfig of a tiny model (Llama-3.1 style: llama3 RoPE scaling, bos/eos ids at the top). */
export function tinyConfig(o: Omit<MakeTinyModelOptions, 'out'>): LlamaConfig {
  const headDim = o.hidden / o.heads;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: o.hidden,
    intermediate_size: o.intermediate,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    head_dim: headDim,
    vocab_size: o.vocab,
    max_position_embeddings: o.maxPosition,
    rms_norm_eps: 1e-5,
    rope_theta: o.ropeTheta,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    hidden_act: 'silu',
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    initializer_range: 0.02,
    pretraining_tp: 1,
    tie_word_embeddings: false,
    use_cache: true,
    // tokenizer layout: <|begin_of_text|>, <|end_of_text|>, <|start_header_id|>, <|end_header_id|>, <|eot_id|>
    bos_token_id: o.vocab - N_SPECIAL,
    eos_token_id: [o.vocab - N_SPECIAL + 1, o.vocab - 1],
    torch_dtype: o.dtype,
    transformers_version: '4.45.0',
  };
}

function checkOptions(o: MakeTinyModelOptions): void {
  if (o.hidden % o.heads !== 0) throw new UserError(`--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`);
  if ((o.hidden / o.heads) % 2 !== 0) throw new UserError(`head_dim = hidden/heads = ${o.hidden / o.heads} must be even for RoPE`);
  if (o.heads % o.kvHeads !== 0) throw new UserError(`--kv-heads ${o.kvHeads} must divide --heads ${o.heads}`);
  if (o.vocab < 256 + N_SPECIAL) throw new UserError(`--vocab ${o.vocab} is too small: need >= ${256 + N_SPECIAL} (bytes + special tokens)`);
}

type TokenizerBuilder = (vocabSize: number) => { tokenizerJson: object; tokenizerConfigJson: object };

/** The prompt layer's tokenizer builder, if this build has it (it is developed separately). */
async function loadTokenizerBuilder(): Promise<TokenizerBuilder | undefined> {
  const specifier = '../prompt/tiny-tokenizer.js';
  try {
    const mod = (await import(specifier)) as { buildTinyTokenizer?: TokenizerBuilder };
    return mod.buildTinyTokenizer;
  } catch {
    return undefined;
  }
}

/** Serialised bytes of every file of the tiny model folder, by file name, in write order. */
export async function tinyModelFiles(o: Omit<MakeTinyModelOptions, 'out'>): Promise<{ files: Map<string, Uint8Array>; withTokenizer: boolean }> {
  const cfg = tinyConfig(o);
  const weights = drawTinyWeights(
    {
      nLayers: o.layers,
      hiddenSize: o.hidden,
      nHeads: o.heads,
      nKvHeads: o.kvHeads,
      headDim: o.hidden / o.heads,
      intermediateSize: o.intermediate,
      vocabSize: o.vocab,
    },
    o.seed,
    o.dtype,
  );
  const files = new Map<string, Uint8Array>();
  const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');
  files.set('config.json', json(cfg));
  files.set(
    'generation_config.json',
    json({ bos_token_id: cfg.bos_token_id, eos_token_id: cfg.eos_token_id, do_sample: false, transformers_version: '4.45.0' }),
  );
  files.set(
    'model.safetensors',
    encodeSafetensors(
      weights.map((w) => ({
        name: w.name,
        dtype: o.dtype === 'float16' ? 'F16' : 'F32',
        shape: w.shape,
        data: o.dtype === 'float16' ? new Uint8Array(toHalfArray(w.values).buffer) : new Uint8Array(w.values.buffer),
      })),
    ),
  );
  const built: BuiltExport = o.style === 'genai' ? buildGenaiExport(cfg, weights) : buildOptimumExport(cfg, weights);
  files.set('model.onnx', toBinary(ModelProtoSchema, built.model));
  files.set(built.dataFile, concatBytes(built.dataChunks));
  const buildTokenizer = await loadTokenizerBuilder();
  if (buildTokenizer) {
    const tok = buildTokenizer(o.vocab);
    files.set('tokenizer.json', json(tok.tokenizerJson));
    files.set('tokenizer_config.json', json(tok.tokenizerConfigJson));
  }
  return { files, withTokenizer: buildTokenizer !== undefined };
}

/**
 * Write a complete tiny Llama folder (config, safetensors, ONNX + external data, tokenizer)
 * to `o.out`. Files are written under temporary names and renamed, so a failure leaves none.
 */
export async function makeTinyModel(o: MakeTinyModelOptions): Promise<MakeTinyModelResult> {
  checkOptions(o);
  const dir = resolve(o.out);
  const { files, withTokenizer } = await tinyModelFiles(o);
  await mkdir(dir, { recursive: true });
  const tmp = [...files.keys()].map((name) => join(dir, `.${name}.tmp-${process.pid}`));
  try {
    let i = 0;
    for (const [, bytes] of files) await writeFile(tmp[i++]!, bytes);
    i = 0;
    for (const name of files.keys()) await rename(tmp[i++]!, join(dir, name));
  } catch (e) {
    await Promise.all(tmp.map((t) => rm(t, { force: true })));
    throw e;
  }
  return { dir, files: [...files].map(([name, bytes]) => ({ name, bytes: bytes.byteLength })), withTokenizer };
}

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((a, c) => a + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
