import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { UserError } from '../../errors.js';
import type { Progress } from '../../hub/progress.js';
import { llama31TokenizerFiles } from '../../prompt/llama31-tokenizer.js';
import { buildTinyTokenizer, TINY_MIN_VOCAB, TINY_SPECIAL_TOKENS } from '../../prompt/tiny-tokenizer.js';
import { captureCacheDir } from '../graph/capture-graph.js';
import { geometryOf, type LlamaConfig } from '../config.js';
import { buildOptimumExport, type BuiltExport } from './export-optimum.js';
import { buildGenaiExport } from './export-genai.js';
import { buildableConfig, readLikeFolder } from './like-model.js';
import { presetFiles, type PresetName } from './presets.js';
import { weightFilesBytes, writeWeightFiles } from './stream-weights.js';
import { weightSpecs, type TinyDims, type WeightDtype } from './tiny-weights.js';
import { hostTag, isProcessAlive, parseTempSuffix, tempSuffix } from '../../util/temp-name.js';

/** Options of `poc make-tiny-model` (sizes of the model and how to export it). */
export interface MakeTinyModelOptions {
  out: string;
  /** decoder layers; with --preset / --like, default the model's own */
  layers?: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPosition: number;
  ropeTheta: number;
  seed: number;
  dtype: WeightDtype;
  style: 'optimum' | 'genai';
  /** a published model's config and tokenizer instead of the sizes above */
  preset?: PresetName;
  /** the config and tokenizer of this model folder instead of the sizes above */
  like?: string;
  /** a progress bar for the weight bytes to write (both files), given their total */
  progress?: (totalBytes: number) => Progress;
  /** Ctrl-C: stop between tensors, removing the partial files */
  signal?: AbortSignal;
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
    num_hidden_layers: o.layers ?? TINY_DEFAULTS.layers!,
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

function checkOptions(o: Omit<MakeTinyModelOptions, 'out'>): void {
  if (o.hidden % o.heads !== 0) throw new UserError(`--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`);
  if ((o.hidden / o.heads) % 2 !== 0) throw new UserError(`head_dim = hidden/heads = ${o.hidden / o.heads} must be even for RoPE`);
  if (o.heads % o.kvHeads !== 0) throw new UserError(`--kv-heads ${o.kvHeads} must divide --heads ${o.heads}`);
  if (o.vocab < TINY_MIN_VOCAB) throw new UserError(`--vocab ${o.vocab} is too small: need >= ${TINY_MIN_VOCAB} (byte tokens + special tokens)`);
}

/**
 * Everything that decides a model folder's bytes: the config.json to write, the config the
 * exporter builds from (defaults filled in), the weight specs, and the small files
 * (tokenizer, generation config) written as they are.
 */
export interface ModelFolderPlan {
  config: LlamaConfig;
  exportConfig: LlamaConfig;
  dims: TinyDims;
  dtype: WeightDtype;
  style: 'optimum' | 'genai';
  seed: number;
  smallFiles: Map<string, Uint8Array>;
}

const jsonBytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');

/** Weight sizes of a (buildable) config. */
export function dimsOf(cfg: LlamaConfig): TinyDims {
  const g = geometryOf(cfg);
  return {
    nLayers: g.nLayers,
    hiddenSize: g.hiddenSize,
    nHeads: g.nHeads,
    nKvHeads: g.nKvHeads,
    headDim: g.headDim,
    intermediateSize: cfg.intermediate_size,
    vocabSize: cfg.vocab_size,
    tiedEmbeddings: cfg.tie_word_embeddings === true,
  };
}

/** The plan of `o`: a custom tiny shape, a preset, or the twin of a folder (`--like`). */
export async function planModelFolder(o: Omit<MakeTinyModelOptions, 'out'>): Promise<ModelFolderPlan> {
  if (o.preset !== undefined && o.like !== undefined) throw new UserError('--preset and --like both name a model to copy: give one');
  if (o.preset !== undefined || o.like !== undefined) {
    let config: LlamaConfig;
    const smallFiles = new Map<string, Uint8Array>();
    if (o.preset !== undefined) {
      const preset = presetFiles(o.preset);
      config = preset.config;
      const tok = llama31TokenizerFiles(preset.chatTemplate);
      smallFiles.set('generation_config.json', jsonBytes(preset.generationConfig));
      smallFiles.set('tokenizer.json', jsonBytes(tok.tokenizerJson));
      smallFiles.set('tokenizer_config.json', jsonBytes(tok.tokenizerConfigJson));
    } else {
      const like = await readLikeFolder(o.like!);
      config = like.config;
      for (const [name, bytes] of like.files) smallFiles.set(name, bytes);
    }
    // every field as the model's; only the depth may be overridden
    config = { ...config, num_hidden_layers: o.layers ?? config.num_hidden_layers };
    const exportConfig = buildableConfig(config, o.preset ? `preset ${o.preset}` : join(o.like!, 'config.json'));
    return { config, exportConfig, dims: dimsOf(exportConfig), dtype: o.dtype, style: o.style, seed: o.seed, smallFiles };
  }
  checkOptions(o);
  const config = tinyConfig(o);
  const smallFiles = new Map<string, Uint8Array>();
  smallFiles.set(
    'generation_config.json',
    jsonBytes({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id, do_sample: false, transformers_version: '4.45.0' }),
  );
  const tok = buildTinyTokenizer(o.vocab);
  smallFiles.set('tokenizer.json', jsonBytes(tok.tokenizerJson));
  smallFiles.set('tokenizer_config.json', jsonBytes(tok.tokenizerConfigJson));
  return { config, exportConfig: config, dims: dimsOf(config), dtype: o.dtype, style: o.style, seed: o.seed, smallFiles };
}

/**
 * Write a complete Llama folder (config, safetensors, ONNX + external data, tokenizer) to
 * `o.out`, the weights streamed tensor by tensor (see stream-weights.ts). Files are written
 * under temporary names and renamed, tokenizer_config.json last, so a failure leaves none
 * and a present tokenizer_config.json means a complete folder.
 */
export async function makeTinyModel(o: MakeTinyModelOptions): Promise<MakeTinyModelResult> {
  const plan = await planModelFolder(o);
  const dir = resolve(o.out);
  if (o.like !== undefined && resolve(o.like) === dir) throw new UserError(`--out ${o.out} is the --like folder: write the twin elsewhere`);
  const built: BuiltExport =
    plan.style === 'genai'
      ? buildGenaiExport(plan.exportConfig, plan.dtype, shapeLookup(plan.dims))
      : buildOptimumExport(plan.exportConfig, plan.dtype, shapeLookup(plan.dims));
  const small = new Map<string, Uint8Array>([['config.json', jsonBytes(plan.config)], ['model.onnx', toBinary(ModelProtoSchema, built.model)]]);
  for (const [name, bytes] of plan.smallFiles) if (name !== 'tokenizer_config.json') small.set(name, bytes);
  small.set('tokenizer_config.json', plan.smallFiles.get('tokenizer_config.json')!);
  const names = ['model.safetensors', built.dataFile, ...small.keys()];
  const createdDir = !existsSync(dir);
  await mkdir(dir, { recursive: true });
  const suffix = tempSuffix();
  const tmp = new Map(names.map((name) => [name, join(dir, `.${name}.tmp-${suffix}`)]));
  const specs = weightSpecs(plan.dims);
  const progress = o.progress?.(weightFilesBytes({ specs, dtype: plan.dtype, dataBytes: built.dataBytes }));
  try {
    await writeWeightFiles({
      specs,
      seed: plan.seed,
      dtype: plan.dtype,
      safetensorsPath: tmp.get('model.safetensors')!,
      dataPath: tmp.get(built.dataFile)!,
      slots: built.slots,
      dataBytes: built.dataBytes,
      progress,
      signal: o.signal,
    });
    for (const [name, bytes] of small) await writeFile(tmp.get(name)!, bytes);
    for (const name of names) await rename(tmp.get(name)!, join(dir, name));
    progress?.done();
  } catch (e) {
    await Promise.all([...tmp.values()].map((t) => rm(t, { force: true })));
    if (createdDir) await rmdir(dir).catch(() => undefined); // only if still empty
    throw e;
  }
  return { dir, files: await Promise.all(names.map(async (name) => ({ name, bytes: (await stat(join(dir, name))).size }))) };
}

function shapeLookup(dims: TinyDims): (name: string) => number[] {
  const shapes = new Map(weightSpecs(dims).map((s) => [s.name, s.shape]));
  return (name) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`missing weight ${name}`);
    return shape;
  };
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
