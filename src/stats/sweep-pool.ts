/**
 * Worker threads that fit the K values of one sweep concurrently. A sweep's fits are
 * independent (each K seeds its own k-means from (seed, K, run)), so spreading them over
 * cores changes nothing in the results, and it also runs the float64 JS side of EM (the
 * d x d factorisations, k-means bookkeeping, log-sum-exp) in parallel, which one
 * multi-threaded onnxruntime product per step cannot do.
 *
 * Workers are made on first use and kept for later sweeps (session creation and module
 * loading happen once); an idle worker is unref'd so it never keeps the process alive.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GmmDataError, type GmmDataProblem, type PreparedData } from './gmm-data.js';
import type { GmmFit } from './types.js';
import type { SweepWorkerRequest, SweepWorkerReply, WorkerFitOptions } from './sweep-worker.js';

/** The compiled worker; from TypeScript sources (tests) the build in dist/ is used. */
function workerUrl(): URL | null {
  const beside = new URL('./sweep-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts') && beside.protocol === 'file:' && existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/stats/sweep-worker.js', import.meta.url);
  return built.protocol === 'file:' && existsSync(fileURLToPath(built)) ? built : null;
}

interface Task {
  sweep: number;
  k: number;
  resolve: (fit: GmmFit) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  /** sweeps whose data this worker already holds */
  holds: Set<number>;
  task: Task | null;
}

interface SweepState {
  data: PreparedData;
  opts: WorkerFitOptions;
  /** workers that were sent the data (told to drop it at the end) */
  sentTo: Set<PoolWorker>;
}

const pool: PoolWorker[] = [];
const queue: Task[] = [];
const sweeps = new Map<number, SweepState>();
let nextSweep = 0;

/** Whether fits can run on worker threads here (the compiled worker exists). */
export function sweepWorkersAvailable(): boolean {
  return workerUrl() !== null;
}

function spawn(url: URL): PoolWorker {
  const pw: PoolWorker = { worker: new Worker(url), holds: new Set(), task: null };
  pw.worker.unref();
  pw.worker.on('message', (reply: SweepWorkerReply) => {
    const task = pw.task;
    if (!task) return;
    pw.task = null;
    pw.worker.unref();
    if (reply.ok) task.resolve(reply.fit);
    else task.reject(reply.problem ? new GmmDataError(reply.problem as GmmDataProblem, reply.message) : new Error(`GMM worker: ${reply.message}`));
    dispatch();
  });
  const fail = (err: Error) => {
    const at = pool.indexOf(pw);
    if (at >= 0) pool.splice(at, 1);
    pw.task?.reject(err);
    pw.task = null;
    // with no worker left nothing would ever take the queued fits
    if (pool.length === 0) for (const t of queue.splice(0, queue.length)) t.reject(err);
    dispatch();
  };
  pw.worker.on('error', fail);
  pw.worker.on('exit', (code) => fail(new Error(`GMM worker exited with code ${code}`)));
  return pw;
}

function dispatch(): void {
  for (const pw of pool) {
    if (pw.task || queue.length === 0) continue;
    const task = queue.shift()!;
    const state = sweeps.get(task.sweep)!;
    pw.task = task;
    pw.worker.ref();
    if (!pw.holds.has(task.sweep)) {
      const { n, d, centered, mean, varianceScale } = state.data;
      const msg: SweepWorkerRequest = { type: 'data', sweep: task.sweep, n, d, centered, mean, varianceScale, opts: state.opts };
      pw.worker.postMessage(msg);
      pw.holds.add(task.sweep);
      state.sentTo.add(pw);
    }
    pw.worker.postMessage({ type: 'fit', sweep: task.sweep, k: task.k } satisfies SweepWorkerRequest);
  }
}

/**
 * Fits every k of `ks` on up to `workers` worker threads and returns the fits in the order
 * of `ks`; rejects with the error of the smallest failing k (what a sequential sweep throws).
 */
export async function fitKsOnWorkers(data: PreparedData, opts: WorkerFitOptions, ks: number[], workers: number): Promise<GmmFit[]> {
  const url = workerUrl();
  if (!url) throw new Error('the GMM sweep worker is not built (run `npm run build`)');
  while (pool.length < workers) pool.push(spawn(url));
  const sweep = nextSweep++;
  const state: SweepState = { data, opts, sentTo: new Set() };
  sweeps.set(sweep, state);
  // largest k first: the longest fits start early, so the last worker to finish waits least
  const order = [...ks].sort((a, b) => b - a);
  const results = new Map<number, Promise<GmmFit>>();
  for (const k of order) {
    results.set(k, new Promise<GmmFit>((resolve, reject) => queue.push({ sweep, k, resolve, reject })));
  }
  dispatch();
  const settled = await Promise.allSettled(ks.map((k) => results.get(k)!));
  sweeps.delete(sweep);
  for (const pw of state.sentTo) {
    if (!pool.includes(pw)) continue;
    pw.holds.delete(sweep);
    pw.worker.postMessage({ type: 'drop', sweep } satisfies SweepWorkerRequest);
  }
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<GmmFit>).value);
}

/** Worker threads alive in the pool (tests check the parallel path really ran). */
export function sweepWorkerCount(): number {
  return pool.length;
}

/** Ends the pool's workers (tests; a process exits without it since idle workers are unref'd). */
export async function closeSweepWorkers(): Promise<void> {
  const all = pool.splice(0, pool.length);
  await Promise.all(all.map((pw) => pw.worker.terminate()));
}
