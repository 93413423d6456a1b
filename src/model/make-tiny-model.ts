import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { UserError } from '../errors.js';
import { buildTinyTokenizer, TINY_MIN_VOCAB, TINY_SPECIAL_TOKENS } from '../prompt/tiny-tokenizer.js';
import { captureCacheDir } from './capture-graph.js';
import type { LlamaConfig } from './config.js';
import { buildOptimumExport, type BuiltExport } from './export-optimum.js';
import { buildGenaiExport } from './export-genai.js';
import { toHalfArray } from './half.js';
import { encodeSafetensors } from './safetensors.js';
import { drawTinyWeights } from './tiny-weights.js';
import { hostTag, isProcessAlive, parseTempSuffix, tempSuffix } from '../util/temp-name.js';

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

/** Id of a special token: the tiny tokenizer puts them, in TINY_SPECIAL_TOKENS order, at the top of the vocab. */
function specialId(vocab: number, token: (typeof TINY_SPECIAL_TOKENS)[number]): number {
  return vocab - TINY_SPECIAL_TOKENS.length + TINY_SPECIAL_TOKENS.indexOf(token);
}

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
    bos_token_id: specialId(o.vocab, '<|begin_of_text|>'),
    // as Llama-3.1-Instruct: end of text and end of turn both stop generation
    eos_token_id: [specialId(o.vocab, '<|end_of_text|>'), specialId(o.vocab, '<|eot_id|>')],
    torch_dtype: o.dtype,
    transformers_version: '4.45.0',
  };
}

function checkOptions(o: MakeTinyModelOptions): void {
  if (o.hidden % o.heads !== 0) throw new UserError(`--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`);
  if ((o.hidden / o.heads) % 2 !== 0) throw new UserError(`head_dim = hidden/heads = ${o.hidden / o.heads} must be even for RoPE`);
  if (o.heads % o.kvHeads !== 0) throw new UserError(`--kv-heads ${o.kvHeads} must divide --heads ${o.heads}`);
  if (o.vocab < TINY_MIN_VOCAB) throw new UserError(`--vocab ${o.vocab} is too small: need >= ${TINY_MIN_VOCAB} (byte tokens + special tokens)`);
}

/** Serialised bytes of every file of the tiny model folder, by file name, in write order. */
export function tinyModelFiles(o: Omit<MakeTinyModelOptions, 'out'>): Map<string, Uint8Array> {
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
  const tok = buildTinyTokenizer(o.vocab);
  files.set('tokenizer.json', json(tok.tokenizerJson));
  files.set('tokenizer_config.json', json(tok.tokenizerConfigJson));
  return files;
}

/**
 * Write a complete tiny Llama folder (config, safetensors, ONNX + external data, tokenizer)
 * to `o.out`. Files are written under temporary names and renamed, so a failure leaves none.
 */
export async function makeTinyModel(o: MakeTinyModelOptions): Promise<MakeTinyModelResult> {
  checkOptions(o);
  const dir = resolve(o.out);
  const files = tinyModelFiles(o);
  await mkdir(dir, { recursive: true });
  const suffix = tempSuffix();
  const tmp = [...files.keys()].map((name) => join(dir, `.${name}.tmp-${suffix}`));
  try {
    let i = 0;
    for (const [, bytes] of files) await writeFile(tmp[i++]!, bytes);
    i = 0;
    for (const name of files.keys()) await rename(tmp[i++]!, join(dir, name));
  } catch (e) {
    await Promise.all(tmp.map((t) => rm(t, { force: true })));
    throw e;
  }
  return { dir, files: [...files].map(([name, bytes]) => ({ name, bytes: bytes.byteLength })) };
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

/**
 * The folder of a tiny model built with `opts` (defaults otherwise) under the poc cache,
 * building it on first use; `--model tiny` and `poc demo` resolve to this.
 */
export async function ensureTinyModel(opts: Partial<Omit<MakeTinyModelOptions, 'out'>> = {}, cacheDir = captureCacheDir()): Promise<string> {
  const o = { ...TINY_DEFAULTS, ...opts };
  // keyed by every option: another size or seed is another folder
  const key = createHash('sha256').update(JSON.stringify(Object.entries(o).sort())).digest('hex').slice(0, 12);
  const dir = join(cacheDir, 'tiny-models', `${o.style}-${o.dtype}-L${o.layers}-${key}`);
  if (!isCompleteTinyFolder(dir)) await buildIntoPlace(o, dir);
  return dir;
}

// tokenizer_config.json is renamed into place last by makeTinyModel: present means complete
function isCompleteTinyFolder(dir: string): boolean {
  return existsSync(join(dir, 'tokenizer_config.json'));
}

/**
 * Builds the folder under a private name beside `dir` and renames the whole folder into
 * place, so processes building the same model at once (array tasks sharing a cache, on one
 * node or several) never write into each other's files, and a reader never sees a folder
 * with one process's model.onnx and another's half-written data file. The first rename wins;
 * the others find `dir` complete and drop their copy.
 */
async function buildIntoPlace(o: Omit<MakeTinyModelOptions, 'out'>, dir: string): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  await removeDeadBuilds(parent, basename(dir));
  const tmp = `${dir}${BUILD_MARK}${tempSuffix()}`;
  try {
    await makeTinyModel({ ...o, out: tmp });
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        if (isCompleteTinyFolder(dir)) return;
        if (attempt > 0) throw err;
        // a half-built folder of an older version of this code: move it aside, then retry
        const aside = `${dir}${BUILD_MARK}${tempSuffix()}`;
        await rename(dir, aside).catch(() => undefined);
        await rm(aside, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

const BUILD_MARK = '.building-';

/** Removes private build folders of `name` left by killed processes of this host (those of other hosts stay: their pids mean nothing here). */
async function removeDeadBuilds(parent: string, name: string): Promise<void> {
  const here = hostTag();
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    if (!entry.startsWith(`${name}${BUILD_MARK}`)) continue;
    const writer = parseTempSuffix(entry.slice(name.length + BUILD_MARK.length));
    if (writer && writer.host === here && !isProcessAlive(writer.pid)) await rm(join(parent, entry), { recursive: true, force: true });
  }
}
