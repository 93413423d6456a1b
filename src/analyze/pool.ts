import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWorkers } from '../util/worker-pool.js';
import type { Matrix } from '../stats/types.js';
import { analyzeUnit, type UnitKey, type UnitResult, type UnitSettings } from './unit.js';
import { runPowerChunk, type PowerChunk, type PowerParams } from './ks-power.js';
import type { PowerRequest, WorkerRequest } from './worker.js';

/**
 * Runs units on worker threads (one unit per worker at a time), or in this thread when one
 * thread is asked for or the compiled worker is absent (running from TypeScript sources).
 */
export interface UnitJob {
  key: UnitKey;
  X: Matrix;
  strata: Int32Array;
  settings: UnitSettings;
}

/** Runs units and resolves with their results; close() ends the workers. */
export interface UnitPool {
  /** worker threads actually started (0 = in this thread) */
  readonly threads: number;
  run(job: UnitJob): Promise<UnitResult>;
  /** one chunk of the KS power table's draws on a free worker (onnxruntime on `threads`); resolves with its hits */
  runPower(params: PowerParams, chunk: PowerChunk, threads: number): Promise<number>;
  close(): Promise<void>;
}

/** A pool of `threads` workers. */
export function createUnitPool(threads: number): UnitPool {
  const workerUrl = new URL('./worker.js', import.meta.url);
  const compiled = workerUrl.protocol === 'file:' && existsSync(fileURLToPath(workerUrl)) && !import.meta.url.endsWith('.ts');
  if (threads <= 1 || !compiled) {
    return {
      threads: 0,
      run: (job) => analyzeUnit(job.X, job.strata, job.key, job.settings),
      runPower: (params, chunk, threads) => runPowerChunk(params, chunk, threads),
      close: async () => {},
    };
  }
  const workers = startWorkers(workerUrl, threads);
  return {
    threads,
    run(job) {
      return workers.post<UnitResult>((id): WorkerRequest => ({ id, key: job.key, data: job.X.data, rows: job.X.rows, cols: job.X.cols, strata: job.strata, settings: job.settings }),
        [job.X.data.buffer as ArrayBuffer, job.strata.buffer as ArrayBuffer]);
    },
    runPower(params, chunk, kernelThreads) {
      return workers.post<number>((id): PowerRequest => ({ id, power: { params, chunk, threads: kernelThreads } }), []);
    },
    close: () => workers.close(),
  };
}
