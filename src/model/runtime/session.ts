import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../../errors.js';
import { CACHE_IO, CAPTURE_IO } from '../graph/capture-surgery.js';
import { rowsAsHalf } from './captured-rows.js';
import { ensureCaptureGraph, readExportTraits, type CaptureGraph } from '../graph/capture-graph.js';
import type { ModelGeometry } from '../config.js';
import { appendHeadMajor, toHeadMajor } from './kv-layout.js';
import { CUDA_HINT, planProvider, WEBGPU_HINT, type EpChoice, type Provider, type ProviderPlan } from './provider-plan.js';
import { cudaProviderInstalled, failureReason } from './providers.js';
import { webGpuReason } from './webgpu.js';

export { CUDA_HINT, type EpChoice, type Provider } from './provider-plan.js';

/** How to open a capture session (provider, threads, outputs, graph placement). */
export interface CaptureSessionOptions {
  ep?: EpChoice;
  /** intra-op threads; default: the cores available to this process */
  threads?: number;
  /** also emit post-RoPE keys at the captured positions (capture_keys) */
  withKeys?: boolean;
  /**
   * have the rows leave the graph as float32 and round them here even where the provider could
   * cast them (tests compare the two roundings); a WebGPU adapter without shader-f16 always does
   */
  rowsOnHost?: boolean;
  /** also emit the value projection's outputs (v_proj, no RoPE) at the captured positions (capture_values) */
  withValues?: boolean;
  /** one-pass prefill only: the graph returns no KV cache, so only captured rows leave onnxruntime */
  onePass?: boolean;
  /** where the capture graph is written: beside the export when writable (default), or always in the cache */
  graphLocation?: 'auto' | 'cache';
  /**
   * write onnxruntime's profile (one JSON event per node run, with the provider that ran it)
   * to files starting with this path; read it with nodePlacement (placement.ts)
   */
  profilePrefix?: string;
  /** where the one line saying which provider `auto` picked (or the CPU fallback warning) goes (default: stderr) */
  warn?: (line: string) => void;
}

/**
 * Per-layer KV cache held by the host, sequence-major [capacity, n_kv, head_dim] (see
 * CACHE_IO): each chunk reads a prefix view of it as its past and appends its own rows.
 */
export interface KvCache {
  keys: Array<Float32Array | Uint16Array>;
  values: Array<Float32Array | Uint16Array>;
  /** positions already in the cache (the next chunk's absolute start) */
  length: number;
}
/** An open capture session over a model folder's capture graph. */
export interface CaptureSession {
  session: ort.InferenceSession;
  graph: CaptureGraph;
  geometry: ModelGeometry;
  /** provider actually used */
  ep: Provider;
  /** element type of the KV cache (the model's compute dtype) */
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  /** the rows leave the graph as float32 and are rounded to float16 here (a WebGPU device without shader-f16) */
  rowsOnHost: boolean;
  withValues: boolean;
  /** whether the export takes position_ids (optimum) or derives positions itself (genai GQA) */
  takesPositionIds: boolean;
  /** the capture graph takes the past sequence-major and returns only the chunk (see CACHE_IO); false around fused attention ops */
  seqMajorCache: boolean;
  /** the graph returns no cache: each run must be a whole prompt (see CaptureSessionOptions.onePass) */
  onePass: boolean;
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
  /** [n_layers, P, n_kv_heads*head_dim] v_proj outputs (no RoPE), heads side by side; only when the session has withValues */
  valuesF16?: Uint16Array;
  present: KvCache;
}

/**
 * Open a capture session for a model folder: builds (or reuses) the capture graph and
 * creates an onnxruntime session on the chosen provider. `cuda` without the CUDA provider
 * is a UserError naming the install command; `auto` falls back to CPU with one warning.
 */
export async function createCaptureSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<CaptureSession> {
  const onePass = opts.onePass ?? false;
  const { withKeys, withValues, warn, plan, rowsOnHost, threads, location } = await captureSetup(modelDir, opts);
  const graph = await ensureCaptureGraph(modelDir, { withKeys, withValues, onePass, rowsOnHost, location });
  const { session, ep } = await openSession(graph, plan, threads, warn, opts.profilePrefix);
  const kvMeta = session.inputMetadata.find((m) => m.name.startsWith('past_seq.') || m.name.startsWith('past_key_values.'));
  const kvType = kvMeta && kvMeta.isTensor && kvMeta.type === 'float16' ? 'float16' : 'float32';
  return {
    session,
    graph,
    geometry: graph.geometry,
    ep,
    kvType,
    withKeys,
    rowsOnHost,
    withValues,
    takesPositionIds: session.inputNames.includes('position_ids'),
    seqMajorCache: session.inputNames.includes(CACHE_IO.past(0, 'key')),
    onePass,
  };
}

/** Where the one-line provider messages go: the caller's `warn`, or stderr. */
function warnOf(opts: Pick<CaptureSessionOptions, 'warn'>): (line: string) => void {
  return opts.warn ?? ((l) => process.stderr.write(l + '\n'));
}

/** What every kind of capture session (chunks, layers, loop, stream) resolves from its options before building its graph. */
export interface CaptureSetup {
  withKeys: boolean;
  withValues: boolean;
  warn: (line: string) => void;
  /** the provider plan for the model folder's sessions (see planProvider) */
  plan: ProviderPlan;
  /** the rows leave the graph as float32: the plan needs it, or the caller asked for it */
  rowsOnHost: boolean;
  threads: number;
  location: 'auto' | 'cache';
}

/** Resolve a capture session's options for a model folder (see CaptureSetup). */
export async function captureSetup(modelDir: string, opts: CaptureSessionOptions): Promise<CaptureSetup> {
  const warn = warnOf(opts);
  const plan = await planProvider(opts.ep ?? 'auto', () => readExportTraits(modelDir), warn);
  return {
    withKeys: opts.withKeys ?? false,
    withValues: opts.withValues ?? false,
    warn,
    plan,
    rowsOnHost: plan.rowsOnHost || (opts.rowsOnHost ?? false),
    threads: opts.threads ?? availableParallelism(),
    location: opts.graphLocation ?? 'auto',
  };
}

/**
 * Create an onnxruntime session on the planned provider. A provider that fails is a UserError
 * naming what to do, except under `auto` (plan.cpuFallback), which runs on the CPU with one
 * warning. On WebGPU, nodes the provider has no kernel for run on the CPU provider (onnxruntime
 * places them there itself; see docs/FACTS.md for which).
 */
export async function openSession(
  graph: Pick<CaptureGraph, 'path' | 'externalDataDir'>,
  plan: ProviderPlan,
  threads: number,
  warn: (line: string) => void,
  profilePrefix?: string,
): Promise<{ session: ort.InferenceSession; ep: Provider }> {
  const base: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  // on WebGPU onnxruntime warns that some nodes run on the CPU: expected (shape ops), documented in FACTS.md
  if (plan.provider === 'webgpu') base.logSeverityLevel = 3;
  if (profilePrefix) Object.assign(base, { enableProfiling: true, profileFilePrefix: profilePrefix });
  // beside its data the graph loads by path; from the cache, as bytes with the data folder named
  const besideData = dirname(resolve(graph.path)) === resolve(graph.externalDataDir);
  const source = besideData ? graph.path : new Uint8Array(await readFile(graph.path));
  if (!besideData) base.extra = { session: { model_external_initializers_file_folder_path: graph.externalDataDir } };
  const create = (providers: string[]) =>
    typeof source === 'string'
      ? ort.InferenceSession.create(source, { ...base, executionProviders: providers })
      : ort.InferenceSession.create(source, { ...base, executionProviders: providers });
  const onCpu = async () => ({ session: await create(['cpu']), ep: 'cpu' as const });
  if (plan.provider === 'cpu') return onCpu();
  const opened = (session: ort.InferenceSession, ep: Provider) => {
    if (plan.announce) warn(plan.announce);
    return { session, ep };
  };
  if (plan.provider === 'webgpu') {
    try {
      return opened(await create(['webgpu']), 'webgpu');
    } catch (e) {
      if (!plan.cpuFallback) throw new UserError(`the WebGPU execution provider cannot be used (${webGpuReason(String((e as Error)?.message ?? e))}); ${WEBGPU_HINT}, or use --ep cpu`);
      warn(`warning: the WebGPU execution provider failed (${webGpuReason(String((e as Error)?.message ?? e))}), running on CPU`);
      return onCpu();
    }
  }
  // without the library onnxruntime would print its own errors before failing: check first
  let reason = 'its library is not installed';
  if (cudaProviderInstalled()) {
    try {
      return opened(await create(['cuda']), 'cuda');
    } catch (e) {
      reason = failureReason(e);
    }
  }
  if (!plan.cpuFallback) throw new UserError(`the CUDA execution provider cannot be used (${reason}): ${CUDA_HINT}, or use --ep cpu`);
  warn(`warning: CUDA execution provider unavailable (${reason}), running on CPU; ${CUDA_HINT}`);
  return onCpu();
}

/**
 * An empty cache (past length 0) for the first chunk, with room for `capacity` positions
 * (a prompt's length: then it never reallocates; it grows by doubling otherwise).
 */
export function emptyKvCache(s: CaptureSession, capacity = 0): KvCache {
  const { nLayers } = s.geometry;
  const alloc = () => allocKv(s, s.onePass ? 0 : capacity);
  return { keys: Array.from({ length: nLayers }, alloc), values: Array.from({ length: nLayers }, alloc), length: 0 };
}

function allocKv(s: CaptureSession, positions: number): Float32Array | Uint16Array {
  const n = positions * s.geometry.nKvHeads * s.geometry.headDim;
  return s.kvType === 'float16' ? new Uint16Array(n) : new Float32Array(n);
}

/** The cache's buffers with room for `needed` positions (the same buffers when they fit). */
function withRoom(s: CaptureSession, cache: KvCache, needed: number): KvCache {
  const row = s.geometry.nKvHeads * s.geometry.headDim;
  if ((cache.keys[0]?.length ?? 0) >= needed * row) return cache;
  const capacity = Math.max(needed, 2 * ((cache.keys[0]?.length ?? 0) / row));
  const grow = (old: Float32Array | Uint16Array) => {
    const next = allocKv(s, capacity);
    next.set(old.subarray(0, cache.length * row) as never);
    return next;
  };
  return { keys: cache.keys.map(grow), values: cache.values.map(grow), length: cache.length };
}

/**
 * The int64 index inputs of one chunk of `chunkIds.length` tokens that starts at `start`: its
 * ids, an all-ones mask over past + chunk, its absolute position ids, and the positions
 * within it to gather (each checked to lie in the chunk; `who` names the caller in errors).
 */
export function chunkIndexFeeds(
  chunkIds: ArrayLike<number>, start: number, capturePositions: ArrayLike<number>, who: string,
): { inputIds: ort.Tensor; attentionMask: ort.Tensor; positionIds: ort.Tensor; positions: ort.Tensor } {
  const n = chunkIds.length;
  const P = capturePositions.length;
  const positions = new BigInt64Array(P);
  for (let i = 0; i < P; i++) {
    const p = capturePositions[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n) throw new RangeError(`${who}: capture position ${p} outside the chunk [0, ${n})`);
    positions[i] = BigInt(p);
  }
  const ids = new BigInt64Array(n);
  const positionIds = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = BigInt(chunkIds[i]!);
    positionIds[i] = BigInt(start + i);
  }
  return {
    inputIds: new ort.Tensor('int64', ids, [1, n]),
    attentionMask: new ort.Tensor('int64', new BigInt64Array(start + n).fill(1n), [1, start + n]),
    positionIds: new ort.Tensor('int64', positionIds, [1, n]),
    positions: new ort.Tensor('int64', positions, [P]),
  };
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
  if (s.onePass && start > 0) throw new RangeError('runChunk: a one-pass capture session takes whole prompts (empty past) only');
  const held = (input.past.keys[0]?.length ?? 0) / (s.geometry.nKvHeads * s.geometry.headDim);
  if (input.past.keys.length !== s.geometry.nLayers || input.past.values.length !== s.geometry.nLayers || held < start) {
    throw new RangeError(`runChunk: the past cache (${input.past.keys.length} layers, room for ${held} positions) does not match its length ${start} or the model's ${s.geometry.nLayers} layers`);
  }
  const index = chunkIndexFeeds(input.inputIds, start, input.capturePositions, 'runChunk');
  const feeds: Record<string, ort.Tensor> = {
    input_ids: index.inputIds,
    attention_mask: index.attentionMask,
    [CAPTURE_IO.positions]: index.positions,
  };
  if (s.takesPositionIds) feeds.position_ids = index.positionIds;
  const L = s.geometry.nLayers;
  const { nKvHeads: H, headDim: D } = s.geometry;
  const row = H * D;
  const cache = s.onePass ? input.past : withRoom(s, input.past, start + n);
  for (let l = 0; l < L; l++) {
    for (const [kind, bufs] of [['key', cache.keys], ['value', cache.values]] as const) {
      const buf = bufs[l]!;
      if (s.seqMajorCache) {
        // a prefix view: no copy on the way in
        feeds[CACHE_IO.past(l, kind)] = new ort.Tensor(s.kvType, buf.subarray(0, start * row), [1, start, H, D]);
      } else {
        feeds[CACHE_IO.exportPast(l, kind)] = new ort.Tensor(s.kvType, toHeadMajor(buf, start, H, D), [1, H, start, D]);
      }
    }
  }
  const out = await s.session.run(feeds);
  // the cache is extended in place: `present` shares the past's buffers
  for (let l = 0; l < L && !s.onePass; l++) {
    for (const [kind, bufs] of [['key', cache.keys], ['value', cache.values]] as const) {
      if (s.seqMajorCache) bufs[l]!.set(out[CACHE_IO.chunk(l, kind)]!.data as never, start * row);
      else appendHeadMajor(bufs[l]!, out[`present.${l}.${kind}`]!.data as Float32Array | Uint16Array, start, n, H, D);
    }
  }
  const present: KvCache = { keys: cache.keys, values: cache.values, length: start + n };
  const rows = (name: string) => rowsAsHalf(out[name]!, name);
  const result: ChunkOutput = { hiddenF16: rows(CAPTURE_IO.hidden), queriesF16: rows(CAPTURE_IO.queries), present };
  if (s.withKeys) result.keysF16 = rows(CAPTURE_IO.keys);
  if (s.withValues) result.valuesF16 = rows(CAPTURE_IO.values);
  return result;
}

/** Free the native session. */
export async function closeCaptureSession(s: CaptureSession): Promise<void> {
  await s.session.release();
}
