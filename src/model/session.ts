import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { CAPTURE_IO } from './capture-surgery.js';
import { ensureCaptureGraph, type CaptureGraph } from './capture-graph.js';
import type { ModelGeometry } from './config.js';
import { cudaProviderInstalled, failureReason } from './providers.js';

/** Execution provider choice of `--ep`. */
export type EpChoice = 'auto' | 'cuda' | 'cpu';

/** How to open a capture session (provider, threads, outputs, graph placement). */
export interface CaptureSessionOptions {
  ep?: EpChoice;
  /** intra-op threads; default: the cores available to this process */
  threads?: number;
  /** also emit post-RoPE keys at the captured positions (capture_keys) */
  withKeys?: boolean;
  /** where the capture graph is written: beside the export when writable (default), or always in the cache */
  graphLocation?: 'auto' | 'cache';
  /** where the one-line CPU fallback warning goes (default: stderr) */
  warn?: (line: string) => void;
}

/** Per-layer KV cache as onnxruntime tensors [1, n_kv, past_len, head_dim], fed back as past. */
export interface KvCache {
  keys: ort.Tensor[];
  values: ort.Tensor[];
  /** positions already in the cache (the next chunk's absolute start) */
  length: number;
}

/** An open capture session over a model folder's capture graph. */
export interface CaptureSession {
  session: ort.InferenceSession;
  graph: CaptureGraph;
  geometry: ModelGeometry;
  /** provider actually used */
  ep: 'cpu' | 'cuda';
  /** element type of the KV cache (the model's compute dtype) */
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  /** whether the export takes position_ids (optimum) or derives positions itself (genai GQA) */
  takesPositionIds: boolean;
}

/** One chunk of a chunked prefill. */
export interface ChunkInput {
  /** token ids of this chunk (batch 1) */
  inputIds: ArrayLike<number>;
  /** positions within this chunk to gather, each in [0, inputIds.length); may be empty */
  capturePositions: ArrayLike<number>;
  /** cache of the previous chunks (emptyKvCache for the first); its length is the chunk's absolute start */
  past: KvCache;
}

/** Rows gathered from one chunk (float16 raw half bits), and the cache extended by it. */
export interface ChunkOutput {
  /** [n_layers, P, hidden_size] attention-block inputs (after input_layernorm) */
  hiddenF16: Uint16Array;
  /** [n_layers, P, n_heads*head_dim] pre-RoPE queries; head h is columns h*head_dim.. */
  queriesF16: Uint16Array;
  /** [n_layers, n_kv_heads, P, head_dim] post-RoPE keys; only when the session has withKeys */
  keysF16?: Uint16Array;
  present: KvCache;
}

/**
 * Open a capture session for a model folder: builds (or reuses) the capture graph and
 * creates an onnxruntime session on the chosen provider. `cuda` without the CUDA provider
 * is a UserError naming the install command; `auto` falls back to CPU with one warning.
 */
export async function createCaptureSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<CaptureSession> {
  const withKeys = opts.withKeys ?? false;
  const graph = await ensureCaptureGraph(modelDir, { withKeys, location: opts.graphLocation ?? 'auto' });
  const threads = opts.threads ?? availableParallelism();
  const { session, ep } = await openSession(graph, opts.ep ?? 'auto', threads, opts.warn ?? ((l) => process.stderr.write(l + '\n')));
  const kvMeta = session.inputMetadata.find((m) => m.name.startsWith('past_key_values.'));
  const kvType = kvMeta && kvMeta.isTensor && kvMeta.type === 'float16' ? 'float16' : 'float32';
  return {
    session,
    graph,
    geometry: graph.geometry,
    ep,
    kvType,
    withKeys,
    takesPositionIds: session.inputNames.includes('position_ids'),
  };
}

/** The message for a missing CUDA provider (shared with `poc doctor`). */
export const CUDA_HINT = 'install the CUDA execution provider with `npm run setup:cuda` (needs CUDA 12.x and cuDNN 9.x on the machine)';

/** Create an onnxruntime session on `ep`, with CPU fallback for `auto`. */
export async function openSession(
  graph: Pick<CaptureGraph, 'path' | 'externalDataDir'>,
  ep: EpChoice,
  threads: number,
  warn: (line: string) => void,
): Promise<{ session: ort.InferenceSession; ep: 'cpu' | 'cuda' }> {
  const base: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  // beside its data the graph loads by path; from the cache, as bytes with the data folder named
  const besideData = dirname(resolve(graph.path)) === resolve(graph.externalDataDir);
  const source = besideData ? graph.path : new Uint8Array(await readFile(graph.path));
  if (!besideData) base.extra = { session: { model_external_initializers_file_folder_path: graph.externalDataDir } };
  const create = (providers: string[]) =>
    typeof source === 'string'
      ? ort.InferenceSession.create(source, { ...base, executionProviders: providers })
      : ort.InferenceSession.create(source, { ...base, executionProviders: providers });
  const onCpu = async () => ({ session: await create(['cpu']), ep: 'cpu' as const });
  if (ep === 'cpu') return onCpu();
  // without the library onnxruntime would print its own errors before failing: check first
  let reason = 'its library is not installed';
  if (cudaProviderInstalled()) {
    try {
      return { session: await create(['cuda']), ep: 'cuda' };
    } catch (e) {
      reason = failureReason(e);
    }
  }
  if (ep === 'cuda') throw new UserError(`the CUDA execution provider cannot be used (${reason}): ${CUDA_HINT}, or use --ep cpu`);
  warn(`warning: CUDA execution provider unavailable (${reason}), running on CPU; ${CUDA_HINT}`);
  return onCpu();
}

/** An empty cache (past length 0) for the first chunk. */
export function emptyKvCache(s: CaptureSession): KvCache {
  const { nLayers, nKvHeads, headDim } = s.geometry;
  const empty = () => new ort.Tensor(s.kvType, s.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, nKvHeads, 0, headDim]);
  return { keys: Array.from({ length: nLayers }, empty), values: Array.from({ length: nLayers }, empty), length: 0 };
}

/**
 * Run one chunk through the capture graph: feeds ids at absolute positions
 * past.length .. past.length+n-1 over the cached past, returns the gathered rows at
 * `capturePositions` (chunk-relative) and the cache extended by this chunk.
 */
export async function runChunk(s: CaptureSession, input: ChunkInput): Promise<ChunkOutput> {
  const n = input.inputIds.length;
  const start = input.past.length;
  if (n === 0) throw new RangeError('runChunk: empty chunk');
  const pastDims = input.past.keys[0]?.dims;
  if (input.past.keys.length !== s.geometry.nLayers || pastDims?.[2] !== start) {
    throw new RangeError(`runChunk: the past cache (${input.past.keys.length} layers, ${pastDims?.[2]} positions) does not match its length ${start} or the model's ${s.geometry.nLayers} layers`);
  }
  const P = input.capturePositions.length;
  const positions = new BigInt64Array(P);
  for (let i = 0; i < P; i++) {
    const p = input.capturePositions[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n) throw new RangeError(`runChunk: capture position ${p} outside the chunk [0, ${n})`);
    positions[i] = BigInt(p);
  }
  const ids = new BigInt64Array(n);
  const positionIds = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = BigInt(input.inputIds[i]!);
    positionIds[i] = BigInt(start + i);
  }
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(start + n).fill(1n), [1, start + n]),
    [CAPTURE_IO.positions]: new ort.Tensor('int64', positions, [P]),
  };
  if (s.takesPositionIds) feeds.position_ids = new ort.Tensor('int64', positionIds, [1, n]);
  const L = s.geometry.nLayers;
  for (let l = 0; l < L; l++) {
    feeds[`past_key_values.${l}.key`] = input.past.keys[l]!;
    feeds[`past_key_values.${l}.value`] = input.past.values[l]!;
  }
  const out = await s.session.run(feeds);
  const present: KvCache = { keys: [], values: [], length: start + n };
  for (let l = 0; l < L; l++) {
    present.keys.push(out[`present.${l}.key`]!);
    present.values.push(out[`present.${l}.value`]!);
  }
  const result: ChunkOutput = {
    hiddenF16: out[CAPTURE_IO.hidden]!.data as Uint16Array,
    queriesF16: out[CAPTURE_IO.queries]!.data as Uint16Array,
    present,
  };
  if (s.withKeys) result.keysF16 = out[CAPTURE_IO.keys]!.data as Uint16Array;
  return result;
}

/** Free the native session. */
export async function closeCaptureSession(s: CaptureSession): Promise<void> {
  await s.session.release();
}
