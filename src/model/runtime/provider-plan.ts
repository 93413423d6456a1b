import { UserError } from '../../errors.js';
import type { ExportTraits } from '../graph/capture-graph.js';
import { HALF_EXPORT_NEEDS_F16 } from '../graph/capture-surgery.js';
import { cudaProviderInstalled } from './providers.js';
import { listWebGpuAdapters, probeWebGpu, type WebGpuAdapter } from './webgpu.js';

/** Execution provider choice of `--ep`. */
export type EpChoice = 'auto' | 'cuda' | 'webgpu' | 'cpu';

/** A provider a session runs on. */
export type Provider = 'cpu' | 'cuda' | 'webgpu';

/** The message for a missing CUDA provider (shared with `poc doctor`). */
export const CUDA_HINT = 'install the CUDA execution provider with `npm run setup:cuda` (needs CUDA 12.x and cuDNN 9.x on the machine)';

/** What a machine needs for the WebGPU provider (shared with `poc doctor`). */
export const WEBGPU_HINT = 'it needs a GPU driver with Vulkan (Linux), Metal (macOS) or D3D12 (Windows); nothing to install in poc';

/** Where a capture's sessions run, decided before its graph is built (the graph depends on it). */
export interface ProviderPlan {
  provider: Provider;
  /**
   * the captured rows leave the graph as float32 and are rounded to float16 on the host: the
   * WebGPU device has no shader-f16 (SurgeryOptions.rowsOnHost)
   */
  rowsOnHost: boolean;
  /** `auto` only: if the provider fails to open a session, run on the CPU with one warning instead of failing */
  cpuFallback: boolean;
  /** `auto` only: the line saying which provider was picked, printed once its session opened (else the fallback warning is the line) */
  announce?: string;
}

/**
 * Decide the provider for `--ep`:
 *  - `cpu`, `cuda`: as named (`cuda` fails at session creation without its library);
 *  - `webgpu`: onnxruntime's bundled WebGPU provider on whatever adapter Dawn gives it, a
 *    software one (SwiftShader, llvmpipe) included — asked for by name, it is never refused
 *    for being slow; no adapter at all is a UserError;
 *  - `auto`: CUDA when its library is installed, else WebGPU when Dawn lists a HARDWARE
 *    adapter (Dawn prefers it over a software one), else the CPU — never a software adapter,
 *    which runs a model orders of magnitude slower than the CPU provider. One line through
 *    `say` (or, once the session opened, openSession through ProviderPlan.announce) tells which
 *    provider was picked and why.
 * `traits` reads the export: one that computes in float16 is a UserError with `--ep webgpu` on
 * an adapter without shader-f16 (`auto` runs it on the CPU instead); one with fused attention
 * gets a one-line warning on WebGPU (FUSED_ATTENTION_WARNING).
 */
export async function planProvider(choice: EpChoice, traits: () => Promise<ExportTraits>, say: (line: string) => void): Promise<ProviderPlan> {
  if (choice === 'cpu') return { provider: 'cpu', rowsOnHost: false, cpuFallback: false };
  if (choice === 'cuda') return { provider: 'cuda', rowsOnHost: false, cpuFallback: false };
  if (choice === 'webgpu') {
    const status = await probeWebGpu();
    if (!status.adapter) throw new UserError(`--ep webgpu: no WebGPU adapter (${status.detail}); ${WEBGPU_HINT}, or use --ep cpu`);
    const t = await traits();
    if (!status.shaderF16 && t.computesInHalf) throw new UserError(`--ep webgpu: ${HALF_EXPORT_NEEDS_F16}`);
    if (t.fusedAttention) say(FUSED_ATTENTION_WARNING);
    return { provider: 'webgpu', rowsOnHost: !status.shaderF16, cpuFallback: false };
  }
  if (cudaProviderInstalled()) {
    return { provider: 'cuda', rowsOnHost: false, cpuFallback: true, announce: 'provider: cuda (auto: the CUDA execution provider is installed)' };
  }
  const listed = await listWebGpuAdapters();
  const hardware = listed.adapters.filter((a) => !a.software);
  const software = listed.adapters.filter((a) => a.software);
  const noGpu = `CUDA provider not installed (${CUDA_HINT})`;
  if (hardware.length === 0) {
    const why = listed.error ?? (software.length > 0 ? `only software adapters, skipped: ${software.map(describe).join('; ')}` : 'none found');
    say(`warning: no GPU provider, running on CPU: ${noGpu}; no hardware WebGPU adapter (${why})`);
    return { provider: 'cpu', rowsOnHost: false, cpuFallback: false };
  }
  const status = await probeWebGpu();
  if (!status.adapter) {
    say(`warning: WebGPU lists ${describe(hardware[0]!)} but onnxruntime's WebGPU provider found no adapter (${status.detail}); running on CPU`);
    return { provider: 'cpu', rowsOnHost: false, cpuFallback: false };
  }
  const t = await traits();
  if (!status.shaderF16 && t.computesInHalf) {
    say(`warning: running on CPU: ${HALF_EXPORT_NEEDS_F16} (adapter ${describe(hardware[0]!)})`);
    return { provider: 'cpu', rowsOnHost: false, cpuFallback: false };
  }
  const rows = status.shaderF16 ? '' : '; no shader-f16: rows leave the GPU as float32 and are rounded to float16 here';
  const announce = `provider: webgpu on ${describe(hardware[0]!)} (auto: the CUDA provider is not installed${rows})${t.fusedAttention ? `; ${FUSED_ATTENTION_WARNING}` : ''}`;
  return { provider: 'webgpu', rowsOnHost: !status.shaderF16, cpuFallback: true, announce };
}

/**
 * Measured on SwiftShader (docs/FACTS.md): the WebGPU provider's GroupQueryAttention is right for
 * up to 31 query tokens and wrong from 32 on (0.2 on values ~1 against a float64 reference), so
 * an onnxruntime-genai export's rows past layer 0 came out up to 0.5 rms off in every prefill
 * mode; not yet checked on a hardware GPU.
 */
export const FUSED_ATTENTION_WARNING =
  "warning: this export's fused attention (GroupQueryAttention) gave wrong rows on WebGPU in this project's tests (software device; see docs/FACTS.md): compare one prompt against --ep cpu before trusting a corpus";

/** "name (vendor, hardware|software, shader-f16|no shader-f16)" */
export function describe(a: WebGpuAdapter): string {
  return `${a.name} (${a.vendor}, ${a.software ? 'software' : 'hardware'}, ${a.shaderF16 ? 'shader-f16' : 'no shader-f16'})`;
}
