import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { hubSettingsFromEnv } from '../hub/settings.js';
import { captureCacheDir } from './capture-graph.js';
import { cudaProviderInstalled, probeProviders, type ProviderStatus } from './providers.js';
import { CUDA_HINT } from './session.js';

/** Everything `poc doctor` checks, as plain data. */
export interface DoctorReport {
  onnxruntimeVersion: string;
  nodeVersion: string;
  /** cores this process may use: the default intra-op thread count */
  cores: number;
  providers: ProviderStatus[];
  cudaInstalled: boolean;
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
    `hugging face cache: ${r.hfCache.path} (from ${r.hfCache.from === 'default' ? 'the default; set HF_HOME or HF_HUB_CACHE to move it' : r.hfCache.from}${r.hfCache.exists ? '' : ', not created yet'})`,
    `capture-graph cache for read-only model folders: ${r.pocCache} (POC_CACHE)`,
    ...r.disks.map((d) => `free disk at ${d.path}: ${gb(d.freeBytes)} of ${gb(d.totalBytes)}`),
  ];
  return lines;
}
