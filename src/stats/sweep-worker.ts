/**
 * Worker-thread entry of the sweep pool: holds the prepared data of the sweeps it was sent
 * and fits one K at a time on them, with the same code a sequential sweep runs.
 */
import { parentPort } from 'node:worker_threads';
import { GmmDataError, type PreparedData } from './gmm-data.js';
import { contextFromPrepared, fitInContext, type FitContext, type GmmFitOptions } from './gmm.js';
import type { GmmFit } from './types.js';

/** Options a worker fits with: plain data only (they cross a thread boundary). */
export type WorkerFitOptions = Omit<GmmFitOptions, 'k'>;

export type SweepWorkerRequest =
  | ({ type: 'data'; sweep: number; opts: WorkerFitOptions } & PreparedData)
  | { type: 'fit'; sweep: number; k: number }
  | { type: 'drop'; sweep: number };

export type SweepWorkerReply = { ok: true; fit: GmmFit } | { ok: false; problem?: string; message: string };

const held = new Map<number, { ctx: FitContext; opts: WorkerFitOptions }>();

parentPort?.on('message', (msg: SweepWorkerRequest) => {
  if (msg.type === 'data') {
    const { n, d, centered, mean, varianceScale } = msg;
    held.set(msg.sweep, { ctx: contextFromPrepared({ n, d, centered, mean, varianceScale }, msg.opts), opts: msg.opts });
  } else if (msg.type === 'drop') {
    held.delete(msg.sweep);
  } else {
    const h = held.get(msg.sweep);
    const reply = (r: SweepWorkerReply) => parentPort!.postMessage(r);
    if (!h) {
      reply({ ok: false, message: `no data for sweep ${msg.sweep}` });
      return;
    }
    fitInContext(h.ctx, { ...h.opts, k: msg.k })
      .then((fit) => reply({ ok: true, fit }))
      .catch((err: unknown) => {
        if (err instanceof GmmDataError) reply({ ok: false, problem: err.problem, message: err.message });
        else reply({ ok: false, message: err instanceof Error ? err.stack ?? err.message : String(err) });
      });
  }
});
