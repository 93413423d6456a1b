import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Matrix } from '../stats/types.js';
import { analyzeUnit, type UnitKey, type UnitResult, type UnitSettings } from './unit.js';
import type { WorkerRequest } from './worker.js';

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
      close: async () => {},
    };
  }
  const idle: Worker[] = [];
  const waiting: Array<(w: Worker) => void> = [];
  const pending = new Map<number, { resolve: (r: UnitResult) => void; reject: (e: Error) => void; worker: Worker }>();
  let nextId = 0;
  const all: Worker[] = [];
  for (let i = 0; i < threads; i++) {
    const w = new Worker(workerUrl);
    w.on('message', (msg: { id: number; result?: UnitResult; error?: string }) => {
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
  return {
    threads,
    async run(job) {
      const w = await acquire();
      const id = nextId++;
      const req: WorkerRequest = { id, key: job.key, data: job.X.data, rows: job.X.rows, cols: job.X.cols, strata: job.strata, settings: job.settings };
      return new Promise<UnitResult>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        w.postMessage(req, [req.data.buffer as ArrayBuffer, req.strata.buffer as ArrayBuffer]);
      });
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
