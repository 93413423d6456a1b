import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
  const idle: Worker[] = [];
  const waiting: Array<(w: Worker) => void> = [];
  const pending = new Map<number, { resolve: (r: FidelityResult) => void; reject: (e: Error) => void; worker: Worker }>();
  const all: Worker[] = [];
  let nextId = 0;
  for (let i = 0; i < threads; i++) {
    const w = new Worker(workerUrl);
    w.on('message', (msg: { id: number; result?: FidelityResult; error?: string }) => {
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
    return idle.pop() ?? new Promise<Worker>((resolve) => waiting.push(resolve));
  }
  return {
    threads,
    async run(input, settings) {
      const w = await acquire();
      const id = nextId++;
      const req: FidelityWorkerRequest = { id, input, settings };
      const moved = [input.queries, input.keys, input.positions, input.values].filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer);
      return new Promise<FidelityResult>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        w.postMessage(req, moved);
      });
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
