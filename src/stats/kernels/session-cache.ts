import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { KernelOptions } from './types.js';

/** One cache per kernel module: a session per graph and thread/provider setting, built once per thread. */
export type SessionCache = Map<string, Promise<ort.InferenceSession>>;

/**
 * The session of the graph `name` (its bytes from `build`, called only the first time) for
 * the kernel options `opts`; `threads` overrides opts.threads (a kernel run narrower than the
 * unit's). Intra-op workers do not spin by default: spinning workers fight other processes for
 * the cores (on a shared 2-core machine a 2-thread K = 1..10 sweep took 21 s spinning and
 * 10-12 s without).
 */
export function kernelSession(
  cache: SessionCache, name: string, build: () => Uint8Array, opts: KernelOptions,
  extra: { threads?: number; enableMemPattern?: boolean } = {},
): Promise<ort.InferenceSession> {
  const threads = extra.threads ?? opts.threads ?? os.cpus().length;
  const providers = opts.executionProviders ?? ['cpu'];
  const spinning = opts.spinning ?? false;
  const key = `${name}|${threads}|${providers.join(',')}|${spinning}`;
  let s = cache.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build(), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      ...(extra.enableMemPattern === false ? { enableMemPattern: false } : {}),
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
    });
    cache.set(key, s);
  }
  return s;
}
