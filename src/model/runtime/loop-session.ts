import * as ort from 'onnxruntime-node';
import { ensureCaptureGraph, type CaptureGraph } from '../graph/capture-graph.js';
import type { ModelGeometry } from '../config.js';
import { LOOP_IO } from '../graph/loop-graph.js';
import { rowsAsHalf } from './captured-rows.js';
import { captureSetup, openSession, type CaptureSessionOptions, type Provider } from './session.js';

/** An open session over a model folder's loop graph: one run prefills a whole prompt. */
export interface LoopSession {
  session: ort.InferenceSession;
  graph: CaptureGraph;
  geometry: ModelGeometry;
  ep: Provider;
  withKeys: boolean;
  withValues: boolean;
}

/** The rows of one prompt: already the corpus arrays (float16 bits, rounded here when the graph returned float32). */
export interface LoopRows {
  /** [n_layers, P, hidden_size] */
  hidden: Uint16Array;
  /** [n_layers, n_heads, P, head_dim] */
  queries: Uint16Array;
  /** [n_layers, n_kv_heads, P, head_dim], with keys only */
  keys?: Uint16Array;
  /** [n_layers, n_kv_heads, P, head_dim] v_proj outputs, with values only */
  values?: Uint16Array;
}

/** Build (or reuse) the loop graph of a model folder (see loop-graph.ts) and open its session. */
export async function createLoopSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<LoopSession> {
  const { withKeys, withValues, warn, plan, rowsOnHost, threads, location } = await captureSetup(modelDir, opts);
  const graph = await ensureCaptureGraph(modelDir, { withKeys, withValues, loop: true, rowsOnHost, location });
  const { session, ep } = await openSession(graph, plan, threads, warn, opts.profilePrefix);
  return { session, graph, geometry: graph.geometry, ep, withKeys, withValues };
}

/**
 * Prefill `ids` in chunks of `chunk` tokens (0 = one chunk) in a single run and return the
 * rows at `positionsSorted` (ascending, absolute). Only the ids, the positions and the rows
 * cross between JS and onnxruntime.
 */
export async function runLoopPrefill(s: LoopSession, ids: Int32Array, positionsSorted: Int32Array, chunk: number): Promise<LoopRows> {
  const T = ids.length;
  if (T === 0) throw new RangeError('runLoopPrefill: empty prompt');
  if (!Number.isInteger(chunk) || chunk < 0) throw new RangeError(`runLoopPrefill: chunk must be a whole number >= 0, got ${chunk}`);
  const P = positionsSorted.length;
  const positions = new BigInt64Array(P);
  for (let i = 0; i < P; i++) {
    const p = positionsSorted[i]!;
    // the graph gathers each chunk's positions by range: unsorted or repeated ones would come out in another order
    if (!Number.isInteger(p) || p < 0 || p >= T || (i > 0 && p <= positionsSorted[i - 1]!)) {
      throw new RangeError(`runLoopPrefill: positions must be ascending and inside the prompt's ${T} tokens, got ${p} at ${i}`);
    }
    positions[i] = BigInt(p);
  }
  const promptIds = new BigInt64Array(T);
  for (let i = 0; i < T; i++) promptIds[i] = BigInt(ids[i]!);
  const out = await s.session.run({
    [LOOP_IO.ids]: new ort.Tensor('int64', promptIds, [1, T]),
    [LOOP_IO.positions]: new ort.Tensor('int64', positions, [P]),
    [LOOP_IO.chunk]: new ort.Tensor('int64', BigInt64Array.of(BigInt(chunk > 0 ? chunk : T)), []),
  });
  const g = s.geometry;
  const rows = (name: string, count: number) => {
    const t = out[name]!;
    if (t.data.length !== count) throw new Error(`runLoopPrefill: ${name} holds ${t.data.length} values, expected ${count}`);
    return rowsAsHalf(t, name);
  };
  const result: LoopRows = {
    hidden: rows(LOOP_IO.hidden, g.nLayers * P * g.hiddenSize),
    queries: rows(LOOP_IO.queries, g.nLayers * g.nHeads * P * g.headDim),
  };
  if (s.withKeys) result.keys = rows(LOOP_IO.keys, g.nLayers * g.nKvHeads * P * g.headDim);
  if (s.withValues) result.values = rows(LOOP_IO.values, g.nLayers * g.nKvHeads * P * g.headDim);
  return result;
}

/** Free the native session. */
export async function closeLoopSession(s: LoopSession): Promise<void> {
  await s.session.release();
}
