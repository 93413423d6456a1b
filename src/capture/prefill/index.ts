import { UserError } from '../../errors.js';
import type { ModelGeometry } from '../../model/config.js';
import type { CaptureSessionOptions, EpChoice, Provider } from '../../model/runtime/session.js';
import type { CaptureBuffers } from './assemble.js';
import { choosePrefillForModel } from './choose-mode.js';
import { chunksMode } from './chunks.js';
import type { HostBytes } from './layer-by-layer.js';
import { layersMode } from './layers.js';
import { loopMode } from './loop.js';
import { onePassMode } from './one-pass.js';
import { streamMode } from './stream.js';

export type { HostBytes } from './layer-by-layer.js';

/**
 * How a prompt is prefilled: one file per mode in this folder, each a PrefillModeDef that
 * opens the mode's onnxruntime session(s) and returns a Prefiller that runs prompts, reports
 * the host bytes it held, and closes them.
 *  - `layers` (layers.ts): layer by layer, one layer's KV cache on the host;
 *  - `stream` (stream.ts): as `layers`, one onnxruntime session per layer in turn;
 *  - `chunks` (chunks.ts): chunk by chunk through the whole model, every layer's KV cache on the host;
 *  - `loop` (loop.ts): chunk by chunk inside ONE onnxruntime run, the KV cache never leaving it.
 * `--chunk 0` runs `one-pass` (one-pass.ts) whatever `--prefill` says. All give the same rows
 * up to float rounding.
 */
export const PREFILL_MODES = ['layers', 'stream', 'chunks', 'loop'] as const;
/** A mode `--prefill` offers (PREFILL_MODES, in the order its help lists them). */
export type PrefillMode = (typeof PREFILL_MODES)[number];
/** Every mode of the registry: the `--prefill` ones and the one-pass graph of `--chunk 0`. */
export type PrefillModeName = PrefillMode | 'one-pass';

export interface PrefillProgress {
  /** tokens prefilled so far in this prompt */
  tokensDone: number;
  kLen: number;
}

/** One prompt's prefill: the rows in the corpus layouts, and the host memory the mode held for them. */
export interface PrefillResult {
  buffers: CaptureBuffers;
  /** buffers the prefill allocated on the JS side (what onnxruntime holds is not counted) */
  hostBytes: HostBytes;
}

/** One open model that prefills prompts into corpus rows, whatever the mode. */
export interface Prefiller {
  mode: PrefillModeName;
  geometry: ModelGeometry;
  ep: Provider;
  /** `onProgress` may throw to stop between chunks */
  prefill(ids: Int32Array, positionsSorted: Int32Array, onProgress?: (p: PrefillProgress) => void): Promise<PrefillResult>;
  /** release the mode's native session(s) */
  close(): Promise<void>;
}

/** A prefill mode: what the CLI says of it, and how it opens its session(s) for a model folder. */
export interface PrefillModeDef {
  name: PrefillModeName;
  /** one line of help (`--prefill`'s for its modes, `--chunk 0`'s for one-pass) */
  help: string;
  /**
   * why `--chunk 0` (the one-pass graph) cannot go with `--prefill` of this mode, as the CLI's
   * error says it; absent when `--chunk 0` simply runs one pass instead
   */
  notOnePass?: string;
  /**
   * open the mode's session(s); `chunk` is the chunk length in tokens the prompts are run in
   * (> 0), undefined when not asked for: the mode's default (DEFAULT_CHUNK, or stream's own)
   */
  open(modelDir: string, chunk: number | undefined, opts: CaptureSessionOptions): Promise<Prefiller>;
}

/** The prefill modes by name. */
export const PREFILL_MODE_DEFS: Readonly<Record<PrefillModeName, PrefillModeDef>> = {
  layers: layersMode,
  stream: streamMode,
  chunks: chunksMode,
  loop: loopMode,
  'one-pass': onePassMode,
};

/** `--prefill`'s help: each offered mode and its line. */
export function prefillModesHelp(): string {
  return PREFILL_MODES.map((m) => `${m}: ${PREFILL_MODE_DEFS[m].help}`).join('; ');
}

/** The one-line error for `--chunk 0` with a `--prefill` mode that cannot run one pass, or undefined when they go together. */
export function onePassConflict(mode: PrefillMode | undefined, chunk: number | undefined): string | undefined {
  const why = chunk === 0 && mode !== undefined ? PREFILL_MODE_DEFS[mode].notOnePass : undefined;
  return why === undefined ? undefined : `--chunk 0 prefills the whole graph in one pass, ${why}: drop --prefill ${mode} or give --chunk N > 0`;
}

/**
 * The mode of a capture: `one-pass` for `chunk` 0 (whatever was asked; the model is not read),
 * else the asked one, or the one chosen for this machine with its note (see choosePrefillMode).
 */
export async function choosePrefill(
  asked: PrefillMode | undefined, chunk: number, modelDir: string, ep: EpChoice, promptTokens = 0,
): Promise<{ mode: PrefillModeName; note?: string }> {
  if (chunk === 0) return { mode: 'one-pass' };
  return choosePrefillForModel(asked, modelDir, ep, promptTokens);
}

/**
 * Open the sessions of `mode` for a model folder (`chunk` undefined: the mode's default). `chunk` 0 keeps its meaning of one pass
 * through the whole graph with no KV cache leaving onnxruntime (`mode` then does not apply).
 */
export async function openPrefiller(modelDir: string, mode: PrefillModeName, chunk: number | undefined, opts: CaptureSessionOptions): Promise<Prefiller> {
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 0)) throw new UserError(`--chunk must be a whole number of tokens >= 0, got ${chunk}`);
  return PREFILL_MODE_DEFS[chunk === 0 ? 'one-pass' : mode].open(modelDir, chunk, opts);
}
