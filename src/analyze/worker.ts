import { parentPort } from 'node:worker_threads';
import { analyzeUnit, type UnitKey, type UnitSettings } from './unit.js';
import { runPowerChunk, type PowerChunk, type PowerParams } from './ks-power.js';

/** Worker-thread entry: runs the jobs posted to it (units, KS power-table chunks), one at a time, and posts each result back. */
export interface WorkerRequest {
  id: number;
  key: UnitKey;
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
  strata: Int32Array;
  settings: UnitSettings;
}

/** A slice of the KS power table's simulation (see ks-power.ts). */
export interface PowerRequest {
  id: number;
  power: { params: PowerParams; chunk: PowerChunk; threads: number };
}

parentPort?.on('message', (req: WorkerRequest | PowerRequest) => {
  const job = 'power' in req
    ? runPowerChunk(req.power.params, req.power.chunk, req.power.threads)
    : analyzeUnit({ data: req.data, rows: req.rows, cols: req.cols }, req.strata, req.key, req.settings);
  job
    .then((result) => parentPort!.postMessage({ id: req.id, result }))
    .catch((err: unknown) => parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
