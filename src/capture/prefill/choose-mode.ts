import { execFileSync } from 'node:child_process';
import { findOnnxFile, readModelProto } from '../../model/graph/capture-graph.js';
import { cudaProviderInstalled } from '../../model/runtime/providers.js';
import type { EpChoice } from '../../model/runtime/session.js';
import { availableMemoryBytes, weightBytes } from '../../model/runtime/weight-bytes.js';
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
 * The prefill mode of a capture when `--prefill` was not given (`asked` undefined):
 *  - on the CPU, under the opt-in malloc settings (POC_MALLOC_TUNE=1), `stream`: one layer's
 *    weights at a time, at 3-5 % more CPU time than `layers` on the bench model (docs/FACTS.md);
 *  - otherwise `layers`, unless the model's weights would not fit the memory there is: the
 *    CPU provider's resident bytes (float16 GEMM weights become float32) against MemAvailable,
 *    or the stored bytes against the CUDA device's free memory; then `stream`, said in one line.
 * A mode given on the command line is always kept.
 */
export function choosePrefillMode(
  asked: PrefillMode | undefined,
  weights: { stored: number; cpuResident: number },
  ep: EpChoice,
  env: ChoiceEnv,
): PrefillChoice {
  if (asked) return { mode: asked };
  const onCpu = ep === 'cpu' || (ep === 'auto' && !env.cudaInstalled);
  if (onCpu) {
    if (env.mallocTuned) return { mode: 'stream' };
    // the whole model in one session, plus about one layer's activations beside it
    if (weights.cpuResident > env.availableBytes) {
      return { mode: 'stream', note: `note: the model's weights take about ${gib(weights.cpuResident)} in onnxruntime's CPU provider and ${gib(env.availableBytes)} is available: prefilling one layer at a time (--prefill stream)` };
    }
    return { mode: 'layers' };
  }
  if (env.cudaFreeBytes !== undefined && weights.stored > env.cudaFreeBytes) {
    return { mode: 'stream', note: `note: the model's weights take about ${gib(weights.stored)} and the CUDA device has ${gib(env.cudaFreeBytes)} free: prefilling one layer at a time (--prefill stream)` };
  }
  return { mode: 'layers' };
}

/** The choice for a model folder on this machine. */
export async function choosePrefillForModel(asked: PrefillMode | undefined, modelDir: string, ep: EpChoice): Promise<PrefillChoice> {
  if (asked) return { mode: asked };
  const { model } = await readModelProto(await findOnnxFile(modelDir));
  const cudaInstalled = cudaProviderInstalled();
  return choosePrefillMode(asked, weightBytes(model), ep, {
    availableBytes: availableMemoryBytes(),
    cudaFreeBytes: ep !== 'cpu' && cudaInstalled ? cudaFreeBytes() : undefined,
    cudaInstalled,
    mallocTuned: Object.entries(CAPTURE_MALLOC_ENV).every(([k, v]) => process.env[k] === v),
  });
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
