import { parentPort } from 'node:worker_threads';
import { analyzeUnit, type UnitKey, type UnitSettings } from './unit.js';

/** Worker-thread entry: analyses the units posted to it, one at a time, and posts each result back. */
export interface WorkerRequest {
  id: number;
  key: UnitKey;
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
  strata: Int32Array;
  settings: UnitSettings;
}

parentPort?.on('message', (req: WorkerRequest) => {
  analyzeUnit({ data: req.data, rows: req.rows, cols: req.cols }, req.strata, req.key, req.settings)
    .then((result) => parentPort!.postMessage({ id: req.id, result }))
    .catch((err: unknown) => parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
