import { parentPort } from 'node:worker_threads';
import { fidelityUnit, type FidelitySettings, type FidelityUnitInput } from './unit.js';

/** Worker-thread entry: scores the fidelity units posted to it, one at a time, and posts each result back. */
export interface FidelityWorkerRequest {
  id: number;
  input: FidelityUnitInput;
  settings: FidelitySettings;
}

parentPort?.on('message', (req: FidelityWorkerRequest) => {
  fidelityUnit(req.input, req.settings)
    .then((result) => parentPort!.postMessage({ id: req.id, result }))
    .catch((err: unknown) => parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
