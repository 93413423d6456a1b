import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/**
 * The Hugging Face LlamaConfig fields this tool reads or writes (config.json). Only the
 * geometry matters to capture; the rest is written so the folder is a faithful HF folder.
 */
export interface LlamaConfig {
  architectures: string[];
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  hidden_act: string;
  attention_bias: boolean;
  mlp_bias: boolean;
  tie_word_embeddings: boolean;
  bos_token_id: number;
  eos_token_id: number | number[];
  torch_dtype: 'float32' | 'float16' | 'bfloat16';
  [extra: string]: unknown;
}

/** Llama-3 frequency-dependent RoPE rescaling ("rope_type": "llama3"). */
export interface RopeScaling {
  rope_type: 'llama3';
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

/** The geometry capture needs, derived once from a config (head_dim defaults to hidden/heads). */
export interface ModelGeometry {
  nLayers: number;
  hiddenSize: number;
  nHeads: number;
  nKvHeads: number;
  /** per-head width of q, k and v */
  headDim: number;
}

/** Read and check `config.json` of a model folder; a missing or odd file is a UserError. */
export async function readModelConfig(modelDir: string): Promise<LlamaConfig> {
  const path = join(modelDir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`no config.json in ${modelDir}: pass a Hugging Face model folder (config.json + an .onnx export)`);
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  for (const key of ['hidden_size', 'num_hidden_layers', 'num_attention_heads']) {
    if (typeof cfg[key] !== 'number') throw new UserError(`${path} lacks the number field "${key}"`);
  }
  return cfg as LlamaConfig;
}

/** Layer/head geometry of a config, with the Hugging Face defaults for absent fields. */
export function geometryOf(cfg: LlamaConfig): ModelGeometry {
  const nHeads = cfg.num_attention_heads;
  const nKvHeads = typeof cfg.num_key_value_heads === 'number' ? cfg.num_key_value_heads : nHeads;
  const headDim = typeof cfg.head_dim === 'number' ? cfg.head_dim : cfg.hidden_size / nHeads;
  if (!Number.isInteger(headDim) || nHeads % nKvHeads !== 0) {
    throw new UserError(`config.json geometry is inconsistent: ${nHeads} heads, ${nKvHeads} kv heads, head_dim ${headDim}`);
  }
  return { nLayers: cfg.num_hidden_layers, hiddenSize: cfg.hidden_size, nHeads, nKvHeads, headDim };
}

/**
 * RoPE inverse frequencies [headDim/2] as transformers computes them, including the
 * llama3 rescaling (long wavelengths divided by `factor`, a smooth ramp in between).
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | null): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return inv;
  const { factor, low_freq_factor: lowF, high_freq_factor: highF, original_max_position_embeddings: oldLen } = scaling;
  const lowWavelen = oldLen / lowF;
  const highWavelen = oldLen / highF;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i]!;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      inv[i] = inv[i]! / factor;
      continue;
    }
    const smooth = (oldLen / wavelen - lowF) / (highF - lowF);
    inv[i] = (1 - smooth) * (inv[i]! / factor) + smooth * inv[i]!;
  }
  return inv;
}
