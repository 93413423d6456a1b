import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { hubSettingsFromEnv } from '../../hub/settings.js';
import { captureCacheDir } from '../graph/capture-graph.js';
import { cudaProviderInstalled, probeProviders, type ProviderStatus } from './providers.js';
import { CUDA_HINT, describe, WEBGPU_HINT } from './provider-plan.js';
import { listWebGpuAdapters, probeWebGpu, type WebGpuAdapterList, type WebGpuStatus } from './webgpu.js';

/** Everything `poc doctor` checks, as plain data. */
export interface DoctorReport {
  onnxruntimeVersion: string;
  nodeVersion: string;
  /** cores this process may use: the default intra-op thread count */
  cores: number;
  providers: ProviderStatus[];
  cudaInstalled: boolean;
  /** WebGPU adapters as Dawn lists them, and what onnxruntime's WebGPU provider found */
  webgpu: { listed: WebGpuAdapterList; onnxruntime: WebGpuStatus };
  /** Hugging Face hub cache and which variable chose it */
  hfCache: { path: string; from: 'HF_HUB_CACHE' | 'HF_HOME' | 'default'; exists: boolean };
  /** where rewritten capture graphs go when a model folder is read-only */
  pocCache: string;
  /** free space of the file systems holding the HF cache and the working directory */
  disks: Array<{ path: string; freeBytes: number; totalBytes: number }>;
}

/** Run every check; never throws for a missing provider or cache (that is what it reports). */
export async function runDoctor(env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const hf = hubSettingsFromEnv(env);
  const from = env.HF_HUB_CACHE?.trim() || env.HUGGINGFACE_HUB_CACHE?.trim() ? 'HF_HUB_CACHE' : env.HF_HOME?.trim() ? 'HF_HOME' : 'default';
  const disks: DoctorReport['disks'] = [];
  for (const p of [hf.cacheDir, process.cwd()]) {
    const at = nearestExisting(resolve(p));
    const s = await statfs(at);
    if (!disks.some((d) => d.path === at)) disks.push({ path: at, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize });
  }
  return {
    onnxruntimeVersion: ort.env.versions.node ?? ort.env.versions.common,
    nodeVersion: process.version,
    cores: availableParallelism(),
    providers: await probeProviders(),
    cudaInstalled: cudaProviderInstalled(),
    webgpu: { listed: await listWebGpuAdapters(), onnxruntime: await probeWebGpu() },
    hfCache: { path: hf.cacheDir, from, exists: existsSync(hf.cacheDir) },
    pocCache: captureCacheDir(),
    disks,
  };
}

function nearestExisting(p: string): string {
  let at = p;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

/** The report as the lines `poc doctor` prints. */
export function formatDoctorReport(r: DoctorReport): string[] {
  const gb = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const lines = [
    `onnxruntime-node ${r.onnxruntimeVersion} on node ${r.nodeVersion}, ${r.cores} cores (default intra-op threads)`,
    'execution providers:',
    ...r.providers.map((p) => `  ${p.name.padEnd(9)} ${p.loads ? 'loads' : 'unavailable'}${p.bundled ? ' (bundled)' : ''}${p.loads ? '' : `: ${p.detail}`}`),
    r.cudaInstalled ? 'cuda provider: installed' : `cuda provider: not installed; to use --ep cuda, ${CUDA_HINT}`,
    ...formatWebGpu(r.webgpu),
    `hugging face cache: ${r.hfCache.path} (from ${r.hfCache.from === 'default' ? 'the default; set HF_HOME or HF_HUB_CACHE to move it' : r.hfCache.from}${r.hfCache.exists ? '' : ', not created yet'})`,
    `capture-graph cache for read-only model folders: ${r.pocCache} (POC_CACHE)`,
    ...r.disks.map((d) => `free disk at ${d.path}: ${gb(d.freeBytes)} of ${gb(d.totalBytes)}`),
  ];
  return lines;
}

/** The WebGPU lines: one per adapter, or one saying there is none; then what onnxruntime's provider makes of it. */
function formatWebGpu(w: DoctorReport['webgpu']): string[] {
  const { adapters, error } = w.listed;
  const lines =
    adapters.length === 0
      ? [`webgpu adapters: none${error ? ` (${error})` : ''}; ${WEBGPU_HINT}`]
      : ['webgpu adapters (--ep auto uses hardware ones only; --ep webgpu takes any):', ...adapters.map((a) => `  ${describe(a)}`)];
  const o = w.onnxruntime;
  if (!o.adapter) lines.push(`webgpu provider: no adapter (${o.detail})`);
  else if (o.shaderF16) lines.push('webgpu provider: adapter found, shader-f16: float16 kernels run on it');
  else lines.push('webgpu provider: adapter found, no shader-f16: captured rows are rounded to float16 on the host; float16 exports need --ep cpu');
  return lines;
}
