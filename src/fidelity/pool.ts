import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWorkers } from '../util/worker-pool.js';
import { fidelityUnit, type FidelityResult, type FidelitySettings, type FidelityUnitInput } from './unit.js';
import type { FidelityWorkerRequest } from './worker.js';

/**
 * Runs fidelity units on worker threads (one unit per worker at a time), as analyze's
 * pool does, or in this thread when one thread is asked for or the compiled worker is
 * absent (running from TypeScript sources, as the tests do).
 */
export interface FidelityPool {
  /** worker threads actually started (0 = in this thread) */
  readonly threads: number;
  /** scores one unit; the input's arrays are moved to the worker (unusable afterwards) */
  run(input: FidelityUnitInput, settings: FidelitySettings): Promise<FidelityResult>;
  close(): Promise<void>;
}

/** A pool of `threads` workers. */
export function createFidelityPool(threads: number): FidelityPool {
  const workerUrl = new URL('./worker.js', import.meta.url);
  const compiled = workerUrl.protocol === 'file:' && existsSync(fileURLToPath(workerUrl)) && !import.meta.url.endsWith('.ts');
  if (threads <= 1 || !compiled) {
    return { threads: 0, run: (input, settings) => fidelityUnit(input, settings), close: async () => {} };
  }
  const workers = startWorkers(workerUrl, threads);
  return {
    threads,
    run(input, settings) {
      const moved = [input.queries, input.keys, input.positions, input.values].filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer);
      return workers.post<FidelityResult>((id): FidelityWorkerRequest => ({ id, input, settings }), moved);
    },
    close: () => workers.close(),
  };
}
