import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { geometryOf, readModelConfig, type LlamaConfig, type RopeScaling } from '../config.js';

/** Files of a model folder that `--like` copies as they are (the tokenizer and generation settings). */
const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json'];
const REQUIRED_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/** What a random twin takes from a model folder: its config.json (every field) and tokenizer files. */
export interface LikeFolder {
  config: LlamaConfig;
  /** file name → bytes, copied verbatim into the twin */
  files: Map<string, Uint8Array>;
}

/** Read `dir`'s config.json and tokenizer files; a missing file or a non-Llama config is a UserError. */
export async function readLikeFolder(dir: string): Promise<LikeFolder> {
  const config = await readModelConfig(dir);
  buildableConfig(config, join(dir, 'config.json'));
  const files = new Map<string, Uint8Array>();
  for (const name of COPIED_FILES) {
    const path = join(dir, name);
    if (existsSync(path)) files.set(name, readFileSync(path));
    else if (REQUIRED_FILES.includes(name)) throw new UserError(`--like ${dir} has no ${name}: the twin needs the model's tokenizer (tokenizer.json + tokenizer_config.json)`);
  }
  return { config, files };
}

/**
 * The config the exporters build from: `cfg` with transformers' LlamaConfig defaults for
 * absent fields and rope_scaling in its current spelling. Throws a UserError for what the
 * builder cannot reproduce (another architecture, biases, another activation or RoPE type).
 */
export function buildableConfig(cfg: LlamaConfig, path: string): LlamaConfig {
  const arch = Array.isArray(cfg.architectures) ? cfg.architectures : [];
  if (cfg.model_type !== 'llama' && !arch.includes('LlamaForCausalLM')) {
    throw new UserError(`${path}: model_type ${String(cfg.model_type)} is not a Llama; the builder writes LlamaForCausalLM weights only`);
  }
  for (const key of ['intermediate_size', 'vocab_size']) {
    if (typeof cfg[key] !== 'number') throw new UserError(`${path} lacks the number field "${key}"`);
  }
  if (cfg.attention_bias === true || cfg.mlp_bias === true) throw new UserError(`${path}: attention_bias/mlp_bias is true; the builder writes bias-free Llama layers only`);
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UserError(`${path}: hidden_act ${String(act)} is not supported (silu only)`);
  geometryOf(cfg); // throws on inconsistent heads
  return {
    ...cfg,
    rms_norm_eps: typeof cfg.rms_norm_eps === 'number' ? cfg.rms_norm_eps : 1e-6,
    rope_theta: typeof cfg.rope_theta === 'number' ? cfg.rope_theta : 10000,
    max_position_embeddings: typeof cfg.max_position_embeddings === 'number' ? cfg.max_position_embeddings : 2048,
    tie_word_embeddings: cfg.tie_word_embeddings === true,
    rope_scaling: ropeScalingOf(cfg.rope_scaling, path),
  };
}

// transformers reads rope_type, or the older key `type`; "default" means no rescaling
function ropeScalingOf(raw: unknown, path: string): RopeScaling | null {
  if (raw === null || raw === undefined) return null;
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return null;
  if (type !== 'llama3') throw new UserError(`${path}: rope_scaling type ${String(type)} is not supported by the builder (llama3 or none)`);
  for (const key of ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) {
    if (typeof r[key] !== 'number') throw new UserError(`${path}: rope_scaling lacks the number field "${key}"`);
  }
  return { ...(r as unknown as RopeScaling), rope_type: 'llama3' };
}
