import { mkdir, access, constants as fsc } from 'node:fs/promises';
import { join } from 'node:path';
import { InterruptedError, UserError } from '../errors.js';
import { corpusFileName } from '../corpus/naming.js';
import { mergeCorpusMeta, metaConflicts, readCorpusMeta, writeCorpusMeta, type CorpusMeta } from '../corpus/meta.js';
import { validateCorpusReader } from '../corpus/validate.js';
import { createNpzWriter, type NpzWriter } from '../npz/npz-writer.js';
import { openNpz } from '../npz/npz-reader.js';
import { geometryOf, readModelConfig } from '../model/config.js';
import type { EpChoice, Provider } from '../model/runtime/session.js';
import { loadPromptBuilder, type PromptFormat } from '../prompt/prompt-builder.js';
import { loadRulerRows } from '../ruler/load.js';
import type { RulerRow } from '../ruler/types.js';
import { taskCatalog } from '../ruler/tasks.js';
import { toolVersion } from '../version.js';
import { withMetaLock } from './meta-lock.js';
import { removeStalePartials } from './stale-partials.js';
import { samplePositions } from './positions.js';
import { choosePrefill, openPrefiller, type Prefiller, type PrefillMode } from './prefill/index.js';
import { createCaptureProgress } from './progress.js';
import { resolveModel } from './resolve-model.js';

import { DEFAULT_CHUNK } from './prefill/chunk-plan.js';
export { DEFAULT_CHUNK };

/**
 * Without --prefill the mode is chosen per model and machine (see choosePrefillMode): `stream`
 * where it costs at most ~10 % more than `layers` (large float32 layers; large float16 layers at
 * 16K-token prompts) or the weights would not fit, else `layers`. Layer by layer holds one
 * layer's KV cache on the host instead of all of them (for Llama-3.1-8B at 16K: 64 MiB + a
 * 128 MiB residual instead of 2 GiB), at about the speed of `chunks` (394-398 tok/s against 405-419 on the bench, peak RSS 0.71/0.77/0.89 GiB against
 * 0.76/0.90/1.32 GiB at 4/8/16 layers). `loop` was as fast or faster (457 tok/s vs 405 at 8
 * layers), but on the CPU its KV cache is in onnxruntime's arena (all layers); it pays on a
 * GPU, where that cache stays in device memory.
 */

export interface CaptureOptions {
  /** tasks to capture, in order */
  tasks: string[];
  /** prompt indices per task (same for every task unless `promptIdxByTask` is given) */
  promptIdx: number[];
  promptIdxByTask?: Record<string, number[]>;
  model?: string;
  out: string;
  source: string;
  promptFormat: PromptFormat;
  haystack?: string;
  maxLength: number;
  nSink: number;
  tSub: number;
  chunk?: number;
  /** layers, stream, chunks or loop (default: chosen by choosePrefillMode); see PrefillMode. Does not change the output beyond float rounding. */
  prefill?: PrefillMode;
  seed: number;
  ep: EpChoice;
  withInputIds: boolean;
  withKeys: boolean;
  /** also store `values`, the value projection's outputs (v_proj, no RoPE) at the sampled positions */
  withValues?: boolean;
  shard?: { index: number; count: number };
  force: boolean;
  threads?: number;
  /** stop between chunks when aborted; the file being written is removed */
  signal?: AbortSignal;
  /** progress and summary lines (default: stderr) */
  stderr?: { write(s: string): unknown; isTTY?: boolean };
}

export interface CaptureResult {
  written: string[];
  skipped: string[];
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  peakRssBytes: number;
  modelDir: string;
  ep: Provider;
  /** the prefill mode used (see choosePrefillMode when none was asked for); none when every file was already there */
  prefill?: Prefiller['mode'];
}


const INTERRUPTED = 'interrupted: the unfinished file was removed; run the same command again to resume';

interface Job {
  task: string;
  promptIdx: number;
}

/** Jobs of this shard: every n-th (task, prompt) pair of the full list, starting at i. */
export function planJobs(opts: Pick<CaptureOptions, 'tasks' | 'promptIdx' | 'promptIdxByTask' | 'shard'>): Job[] {
  const all: Job[] = [];
  for (const task of opts.tasks) {
    for (const promptIdx of opts.promptIdxByTask?.[task] ?? opts.promptIdx) all.push({ task, promptIdx });
  }
  const shard = opts.shard ?? { index: 0, count: 1 };
  return all.filter((_, i) => i % shard.count === shard.index);
}

/**
 * `poc capture`: for each (task, prompt) of this shard, builds the prefill ids, samples the
 * positions, prefills through the capture graph and writes one corpus file atomically, then
 * records it in meta.json. Valid files of the same settings are skipped unless `force`.
 */
export async function runCapture(opts: CaptureOptions): Promise<CaptureResult> {
  const stderr = opts.stderr ?? process.stderr;
  const t0 = performance.now();
  validateSettings(opts);
  await prepareOutDir(opts.out);
  await removeStalePartials(opts.out);
  const model = await resolveModel(opts.model);
  const config = await readModelConfig(model.dir);
  const builder = loadPromptBuilder(model.dir);
  const runMeta: CorpusMeta = {
    model: {
      name: model.name,
      num_hidden_layers: config.num_hidden_layers,
      num_attention_heads: config.num_attention_heads,
      num_key_value_heads: config.num_key_value_heads,
      // the published Llama-3.1 config.json has no head_dim field: record the derived one
      head_dim: geometryOf(config).headDim,
      hidden_size: config.hidden_size,
      rope_theta: config.rope_theta,
      rope_scaling: config.rope_scaling,
    },
    capture: {
      max_length: opts.maxLength,
      n_sink: opts.nSink,
      t_sub: opts.tSub,
      seed: opts.seed,
      source: opts.source,
      prompt_format: opts.promptFormat,
      dtype: 'float16',
      with_input_ids: opts.withInputIds,
      with_keys: opts.withKeys,
      with_values: opts.withValues ?? false,
    },
    tool: { name: 'poc', version: toolVersion() },
    tasks: {},
  };
  const existing = await readCorpusMeta(opts.out).catch((err: Error) => {
    throw new UserError(`${err.message}; fix or remove it, or capture into another --out`);
  });
  if (existing) {
    const conflicts = metaConflicts(existing, runMeta);
    if (conflicts.length > 0) {
      throw new UserError(`${join(opts.out, 'meta.json')} was captured with other settings (${conflicts.join('; ')}); use another --out or the same settings`);
    }
  }

  const jobs = planJobs(opts);
  const progress = createCaptureProgress(jobs.length, stderr);
  const written: string[] = [];
  const skipped: string[] = [];
  let tokens = 0;
  const checkMeta = mergeCorpusMeta(existing, runMeta);
  const pending: Job[] = [];
  const complete: Job[] = [];
  for (const job of jobs) {
    const path = join(opts.out, corpusFileName(job.task, job.promptIdx));
    if (!opts.force && (await isCompleteFile(path, job, checkMeta, opts))) {
      skipped.push(path);
      complete.push(job);
      progress.promptDone(`${job.task} p${job.promptIdx}`, 'skipped', 0);
    } else {
      pending.push(job);
    }
  }
  // files found complete are (re)listed in meta.json in one locked update
  await recordInMeta(opts.out, runMeta, complete);
  if (pending.length === 0) {
    progress.end();
    return summarize(opts, stderr, { written, skipped, tokens, t0, modelDir: model.dir, ep: opts.ep === 'auto' ? 'cpu' : opts.ep });
  }

  // rows first: a missing dataset fails before the model is loaded
  const rowsByTask = new Map<string, RulerRow[]>();
  for (const task of unique(pending.map((j) => j.task))) {
    rowsByTask.set(task, await loadRulerRows({
      source: opts.source,
      task,
      promptIdx: pending.filter((j) => j.task === task).map((j) => j.promptIdx),
      maxTokens: opts.maxLength,
      countTokens: builder.countTokens,
      seed: opts.seed,
      haystackFile: opts.haystack,
    }));
  }
  // --chunk 0: a graph without cache outputs, so only the captured rows leave onnxruntime
  const choice = await choosePrefill(opts.prefill, opts.chunk ?? DEFAULT_CHUNK, model.dir, opts.ep, opts.maxLength);
  if (choice.note) stderr.write(`${choice.note}\n`);
  const session = await openPrefiller(model.dir, choice.mode, opts.chunk, {
    ep: opts.ep, withKeys: opts.withKeys, withValues: opts.withValues ?? false, threads: opts.threads, warn: (l) => stderr.write(`${l}\n`),
  });
  let current: NpzWriter | undefined;
  try {
    for (const task of unique(pending.map((j) => j.task))) {
      const taskJobs = pending.filter((j) => j.task === task);
      const rows = rowsByTask.get(task)!;
      for (const [k, job] of taskJobs.entries()) {
        const label = `${job.task} p${job.promptIdx}`;
        const ids = builder.buildPrefillIds(rows[k]!.context, { maxLength: opts.maxLength, promptFormat: opts.promptFormat });
        let positions: Int32Array;
        try {
          positions = samplePositions(ids.length, opts.nSink, opts.tSub, opts.seed, job.task, job.promptIdx);
        } catch (err) {
          throw new UserError(`${label}: ${(err as Error).message}; lower --t-sub or --n-sink, or raise --max-length (nothing written for this prompt)`);
        }
        const { buffers } = await session.prefill(ids, positions, (p) => {
          if (opts.signal?.aborted) throw new InterruptedError(INTERRUPTED);
          progress.update(label, p.tokensDone, p.kLen);
        });
        if (opts.signal?.aborted) throw new InterruptedError(INTERRUPTED);
        const g = session.geometry;
        const path = join(opts.out, corpusFileName(job.task, job.promptIdx));
        current = await createNpzWriter(path);
        await current.add('hidden', { dtype: 'float16', shape: [g.nLayers, opts.tSub, g.hiddenSize], data: buffers.hidden });
        await current.add('queries', { dtype: 'float16', shape: [g.nLayers, g.nHeads, opts.tSub, g.headDim], data: buffers.queries });
        await current.add('positions', { dtype: 'int32', shape: [opts.tSub], data: positions });
        await current.add('task', { dtype: 'unicode', shape: [], data: [job.task] });
        await current.add('prompt_idx', { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(job.promptIdx)) });
        await current.add('k_len', { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(ids.length)) });
        if (opts.withInputIds) await current.add('input_ids', { dtype: 'int32', shape: [ids.length], data: ids });
        if (buffers.keys) await current.add('keys', { dtype: 'float16', shape: [g.nLayers, g.nKvHeads, opts.tSub, g.headDim], data: buffers.keys });
        if (buffers.values) await current.add('values', { dtype: 'float16', shape: [g.nLayers, g.nKvHeads, opts.tSub, g.headDim], data: buffers.values });
        if (opts.signal?.aborted) throw new InterruptedError(INTERRUPTED);
        await current.close();
        current = undefined;
        await recordInMeta(opts.out, runMeta, [job]);
        written.push(path);
        tokens += ids.length;
        progress.promptDone(label, 'written', ids.length);
      }
    }
  } catch (err) {
    await current?.abort();
    progress.end();
    throw err;
  } finally {
    await session.close();
  }
  progress.end();
  return summarize(opts, stderr, { written, skipped, tokens, t0, modelDir: model.dir, ep: session.ep, prefill: session.mode });
}

function validateSettings(opts: CaptureOptions): void {
  if (opts.tasks.length === 0) throw new UserError('no task given: pass --task NAME, --all-tasks or --like META.json');
  const catalog = taskCatalog();
  for (const t of opts.tasks) {
    if (!catalog.tasks.includes(t)) throw new UserError(`unknown RULER task "${t}"; valid tasks: ${catalog.tasks.join(', ')}`);
  }
  if (opts.tSub < 1) throw new UserError('--t-sub must be at least 1');
  if (opts.nSink + opts.tSub > opts.maxLength) {
    throw new UserError(`--n-sink ${opts.nSink} + --t-sub ${opts.tSub} exceeds --max-length ${opts.maxLength}: no prompt can be long enough`);
  }
}

async function prepareOutDir(out: string): Promise<void> {
  try {
    await mkdir(out, { recursive: true });
    await access(out, fsc.W_OK);
  } catch (err) {
    throw new UserError(`cannot write to --out ${out} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose a writable folder`);
  }
}

/** A finished file of this job with this run's settings and optional fields (one open of the file). */
async function isCompleteFile(path: string, job: Job, meta: CorpusMeta, opts: CaptureOptions): Promise<boolean> {
  let reader;
  try {
    reader = await openNpz(path);
  } catch {
    return false;
  }
  try {
    const report = await validateCorpusReader(reader, mergeCorpusMeta(meta, { tasks: { [job.task]: [job.promptIdx] } }));
    const has = (name: string) => reader.field(name) !== undefined;
    return report.ok && has('input_ids') === opts.withInputIds && has('keys') === opts.withKeys && has('values') === (opts.withValues ?? false);
  } catch {
    return false;
  } finally {
    await reader.close();
  }
}

async function recordInMeta(out: string, runMeta: CorpusMeta, jobs: Job[]): Promise<void> {
  if (jobs.length === 0) return;
  const tasks: Record<string, number[]> = {};
  for (const j of jobs) (tasks[j.task] ??= []).push(j.promptIdx);
  await withMetaLock(out, async () => {
    const existing = await readCorpusMeta(out);
    if (existing) {
      const conflicts = metaConflicts(existing, runMeta);
      if (conflicts.length > 0) throw new UserError(`meta.json changed under this run (${conflicts.join('; ')})`);
    }
    const merged = mergeCorpusMeta(existing, { ...runMeta, tasks });
    // a re-submitted array task whose files are all done changes nothing: leave the file (and its mtime) alone
    if (existing && JSON.stringify(existing) === JSON.stringify(merged)) return;
    await writeCorpusMeta(out, merged);
  });
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function summarize(
  opts: CaptureOptions,
  stderr: { write(s: string): unknown },
  r: { written: string[]; skipped: string[]; tokens: number; t0: number; modelDir: string; ep: Provider; prefill?: Prefiller['mode'] },
): CaptureResult {
  const seconds = (performance.now() - r.t0) / 1000;
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const tokensPerSecond = r.tokens / Math.max(seconds, 1e-9);
  stderr.write(
    `capture: ${r.written.length} written, ${r.skipped.length} skipped into ${opts.out}; ${r.tokens} tokens in ${seconds.toFixed(1)} s ` +
      `(${Math.round(tokensPerSecond)} tok/s, ${r.ep}${r.prefill ? `, prefill ${r.prefill}` : ''}); peak RSS ${(peakRssBytes / 2 ** 30).toFixed(2)} GiB\n`,
  );
  return { written: r.written, skipped: r.skipped, tokens: r.tokens, seconds, tokensPerSecond, peakRssBytes, modelDir: r.modelDir, ep: r.ep, prefill: r.prefill };
}
