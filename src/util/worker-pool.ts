import { Worker } from 'node:worker_threads';

/**
 * A fixed set of worker threads that take one request at a time each. A request carries an
 * `id` the worker echoes back with `{ id, result }` or `{ id, error }`; requests wait for a
 * free worker in arrival order. Shared by analyze's and fidelity's unit pools.
 */
export interface WorkerPool {
  readonly threads: number;
  /** posts the request `make(id)` to a free worker (moving `transfer`) and resolves with its result */
  post<T>(make: (id: number) => unknown, transfer: ArrayBuffer[]): Promise<T>;
  close(): Promise<void>;
}

/** Start `threads` workers running the module at `workerUrl`. */
export function startWorkers(workerUrl: URL, threads: number): WorkerPool {
  const idle: Worker[] = [];
  const waiting: Array<(w: Worker) => void> = [];
  const pending = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void; worker: Worker }>();
  const all: Worker[] = [];
  let nextId = 0;
  const release = (w: Worker): void => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
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
  const acquire = (): Promise<Worker> => {
    const w = idle.pop();
    return w ? Promise.resolve(w) : new Promise<Worker>((resolve) => waiting.push(resolve));
  };
  return {
    threads,
    async post<T>(make: (id: number) => unknown, transfer: ArrayBuffer[]): Promise<T> {
      const w = await acquire();
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (r: never) => void, reject, worker: w });
        w.postMessage(make(id), transfer);
      });
    },
    async close() {
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
