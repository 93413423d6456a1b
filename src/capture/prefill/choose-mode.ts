import { execFileSync } from 'node:child_process';
import { findOnnxFile, readModelProto } from '../../model/graph/capture-graph.js';
import { cudaProviderInstalled } from '../../model/runtime/providers.js';
import type { EpChoice } from '../../model/runtime/session.js';
import { availableMemoryBytes, weightBytes } from '../../model/runtime/weight-bytes.js';
import { geometryOf, readModelConfig, type LlamaConfig } from '../../model/config.js';
import { CAPTURE_MALLOC_ENV } from '../../util/malloc-env.js';
import type { PrefillMode } from './index.js';

/** The mode a capture runs with, and the one line saying why when it was not asked for. */
export interface PrefillChoice {
  mode: PrefillMode;
  note?: string;
}

/** What the choice depends on besides the model (injected by tests). */
export interface ChoiceEnv {
  /** host memory that may still be taken (MemAvailable) */
  availableBytes: number;
  /** free memory of the CUDA device, when known */
  cudaFreeBytes?: number;
  cudaInstalled: boolean;
  /** this process runs with CAPTURE_MALLOC_ENV (the CLI relaunches a capture so when POC_MALLOC_TUNE=1) */
  mallocTuned: boolean;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/**
 * Projection bytes per decoder layer (float32) from which `stream` is the CPU default for a
 * float32 export. A layer's new session per prompt (graph, weights from the page cache, arena) is
 * a fixed cost that a large layer's compute hides: on the 8-layer hidden-1024 float32 bench model
 * (45 MB a layer) stream ran at 0.99x the tokens/s of `layers` (median of 3) at a third of its
 * peak RSS, and at Llama-3.1-8B's shape in float32 (4 layers, 4,096 tokens, one run) 63 CPU s against 79; on
 * the tiny test model (0.2 MB a layer) it cost 14-20 % more CPU time and saved nothing. Float16
 * GEMM weights are another matter: each new session casts them to float32 again, and at the 8B
 * shape in float16 stream cost +60 % CPU time at 4,096 tokens (docs/FACTS.md), so those exports
 * keep `layers` while they fit.
 */
export const STREAM_DEFAULT_LAYER_BYTES = 32 * 2 ** 20;

/**
 * Prompt length (`--max-length`) from which `stream` is the CPU default for an export with
 * float16 GEMM weights and large layers: the cast each new session repeats is a fixed cost per
 * layer and prompt, so a long prompt hides it. At Llama-3.1-8B's shape in float16 (2 threads)
 * stream cost +6.5 % CPU time at 16,384 tokens against `layers` (4 layers: 311 against 292 CPU s,
 * peak RSS 3.26 against 8.81 GiB), and +24-60 % at 4,096 (docs/FACTS.md).
 */
export const STREAM_FLOAT16_MIN_TOKENS = 16384;

/**
 * The prefill mode of a capture when `--prefill` was not given (`asked` undefined):
 *  - on the CPU, `stream` (one layer's weights at a time) when the model's weights would not
 *    fit MemAvailable (the CPU provider's resident bytes: float16 GEMM weights become float32),
 *    said in one line; silently where streaming costs at most ~10 % more than `layers`: layers
 *    large enough (STREAM_DEFAULT_LAYER_BYTES) in a float32 export, or in a float16 one when
 *    prompts are long (STREAM_FLOAT16_MIN_TOKENS); or under the opt-in malloc settings
 *    (POC_MALLOC_TUNE=1); else `layers`;
 *  - on CUDA, `layers` unless the stored weights exceed the device's free memory, then
 *    `stream`, said in one line: there a new session per layer and prompt uploads that
 *    layer's weights again, a cost not measured here against a GPU's prefill speed.
 * A mode given on the command line is always kept.
 */
export function choosePrefillMode(
  asked: PrefillMode | undefined,
  weights: { stored: number; cpuResident: number; layerCpuBytes: number },
  ep: EpChoice,
  env: ChoiceEnv,
  /** the prompts' token budget (--max-length) */
  promptTokens = 0,
): PrefillChoice {
  if (asked) return { mode: asked };
  const onCpu = ep === 'cpu' || (ep === 'auto' && !env.cudaInstalled);
  if (onCpu) {
    if (env.mallocTuned) return { mode: 'stream' };
    // the whole model in one session, plus about one layer's activations beside it
    if (weights.cpuResident > env.availableBytes) {
      return { mode: 'stream', note: `note: the model's weights take about ${gib(weights.cpuResident)} in onnxruntime's CPU provider and ${gib(env.availableBytes)} is available: prefilling one layer at a time (--prefill stream)` };
    }
    // cpuResident above stored: float16 GEMM weights, cast again by every new session
    const castsWeights = weights.cpuResident > weights.stored;
    const longEnough = !castsWeights || promptTokens >= STREAM_FLOAT16_MIN_TOKENS;
    if (longEnough && weights.layerCpuBytes >= STREAM_DEFAULT_LAYER_BYTES) return { mode: 'stream' };
    return { mode: 'layers' };
  }
  if (env.cudaFreeBytes !== undefined && weights.stored > env.cudaFreeBytes) {
    return { mode: 'stream', note: `note: the model's weights take about ${gib(weights.stored)} and the CUDA device has ${gib(env.cudaFreeBytes)} free: prefilling one layer at a time (--prefill stream)` };
  }
  return { mode: 'layers' };
}

/** The choice for a model folder on this machine. */
export async function choosePrefillForModel(asked: PrefillMode | undefined, modelDir: string, ep: EpChoice, promptTokens = 0): Promise<PrefillChoice> {
  if (asked) return { mode: asked };
  const { model } = await readModelProto(await findOnnxFile(modelDir));
  const layerCpuBytes = layerGemmCpuBytes(await readModelConfig(modelDir));
  const cudaInstalled = cudaProviderInstalled();
  return choosePrefillMode(asked, { ...weightBytes(model), layerCpuBytes }, ep, {
    availableBytes: availableMemoryBytes(),
    cudaFreeBytes: ep !== 'cpu' && cudaInstalled ? cudaFreeBytes() : undefined,
    cudaInstalled,
    mallocTuned: Object.entries(CAPTURE_MALLOC_ENV).every(([k, v]) => process.env[k] === v),
  }, promptTokens);
}

/**
 * What one decoder layer's projections take in the CPU provider (float32, whatever the stored
 * type): q, k, v, o and the MLP's three matrices. The embedding and lm_head are left out, so a
 * small model with a large vocabulary is not mistaken for one with large layers.
 */
export function layerGemmCpuBytes(cfg: LlamaConfig): number {
  const g = geometryOf(cfg);
  const h = g.hiddenSize;
  return 4 * (2 * h * g.nHeads * g.headDim + 2 * h * g.nKvHeads * g.headDim + 3 * h * cfg.intermediate_size);
}

/** Free memory of CUDA device 0 by nvidia-smi (the Node binding cannot ask), or undefined. */
function cudaFreeBytes(): number | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits', '--id=0'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    const mib = Number(out.trim().split('\n')[0]);
    return Number.isFinite(mib) ? mib * 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}
