import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
  const idle: Worker[] = [];
  const waiting: Array<(w: Worker) => void> = [];
  const pending = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void; worker: Worker }>();
  let nextId = 0;
  const all: Worker[] = [];
  for (let i = 0; i < threads; i++) {
    const w = new Worker(workerUrl);
    w.on('message', (msg: { id: number; result?: never; error?: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      release(w);
      if (msg.error !== undefined) p.reject(new Error(`worker: ${msg.error}`));
      else p.resolve(msg.result!);
    });
    w.on('error', (err) => {
      for (const [id, p] of pending) if (p.worker === w) { pending.delete(id); p.reject(err); }
    });
    all.push(w);
    idle.push(w);
  }
  function release(w: Worker): void {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  }
  async function acquire(): Promise<Worker> {
    const w = idle.pop();
    return w ?? new Promise<Worker>((resolve) => waiting.push(resolve));
  }
  /** Posts one request to a free worker and resolves with its result. */
  async function post<T>(make: (id: number) => WorkerRequest | PowerRequest, transfer: ArrayBuffer[]): Promise<T> {
    const w = await acquire();
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (r: never) => void, reject, worker: w });
      w.postMessage(make(id), transfer);
    });
  }
  return {
    threads,
    run(job) {
      return post<UnitResult>((id) => ({ id, key: job.key, data: job.X.data, rows: job.X.rows, cols: job.X.cols, strata: job.strata, settings: job.settings }),
        [job.X.data.buffer as ArrayBuffer, job.strata.buffer as ArrayBuffer]);
    },
    runPower(params, chunk, kernelThreads) {
      return post<number>((id) => ({ id, power: { params, chunk, threads: kernelThreads } }), []);
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
