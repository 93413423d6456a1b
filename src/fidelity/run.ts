import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { openNpz } from '../npz/index.js';
import { createProgress } from '../analyze/progress.js';
import { defaultUnitsPath } from '../analyze/run.js';
import type { KernelOptions } from '../stats/kernels/index.js';
import { planFidelityCorpus, readLayer } from './corpus.js';
import { fidelityColumns, formatFidelityRow, parseFidelityCsv } from './csv.js';
import { writeFidelityReport } from './report.js';
import { invFreqOf } from './rope.js';
import { summariseFidelity, type FidelitySummary } from './summary.js';
import { createFidelityPool } from './pool.js';
import type { FidelityResult, FidelitySettings } from './unit.js';

/**
 * `poc fidelity` end to end: plan the corpus, score each (layer, kv head, prompt) unit not
 * yet in the units csv on a pool of worker threads, append it there as it finishes, then
 * write the report from all rows.
 */

/** kvpress's compression ratios the report is built around (fraction of keys removed). */
export const DEFAULT_RATIOS = [0.25, 0.5, 0.75, 0.9];

/** Options of `poc fidelity` (see its --help). */
export interface FidelityOptions {
  corpus: string;
  out: string;
  kMax: number;
  /** latest fraction of each prompt's sampled positions used as future queries */
  future: number;
  keep: number[];
  /** compression ratios of the press simulation (default DEFAULT_RATIOS) */
  ratios?: number[];
  /** false: the ranking on keys alone, no press simulation (no values needed); default true */
  press?: boolean;
  /** worker threads (default: all cores); 1 runs the units in this thread */
  threads?: number;
  seed?: number;
  /** progress output (default process.stderr); null for none */
  progressStream?: { write(s: string): unknown; isTTY?: boolean } | null;
  /** statistics kernels (default onnxruntime on all cores) */
  kernel?: KernelOptions;
  /** keep each press's kept indices in the rows (tests) */
  pressKeptSets?: boolean;
  /** stop after this many new units (tests: simulates a killed run) */
  maxUnits?: number;
}

export interface FidelityRunResult {
  report: string;
  unitsCsv: string;
  figures: string[];
  /** every unit of the csv: earlier runs' (parsed back) and this run's (full precision) */
  rows: FidelityResult[];
  /** units already in the csv from an earlier run with the same settings */
  unitsResumed: number;
  summary: FidelitySummary;
  /** corpus files skipped (unreadable or inconsistent), with the reason */
  skippedFiles: Array<{ path: string; reason: string }>;
  /** worker threads used (0 = the units ran in this thread) */
  workerThreads: number;
  seconds: number;
}

/** Scores every (layer, kv head, prompt) unit of a --with-keys (--with-values) corpus and writes the CSV and the report. */
export async function runFidelity(opts: FidelityOptions): Promise<FidelityRunResult> {
  const started = performance.now();
  const out = resolve(opts.out);
  const unitsCsv = defaultUnitsPath(out);
  const press = opts.press ?? true;
  const ratios = press ? opts.ratios ?? DEFAULT_RATIOS : [];
  const plan = await planFidelityCorpus(opts.corpus, press);
  mkdirSync(dirname(out), { recursive: true });
  const threads = Math.max(1, opts.threads ?? os.availableParallelism());
  const settings: FidelitySettings = {
    future: opts.future, keep: opts.keep, ratios, kMax: opts.kMax, seed: opts.seed ?? 0, invFreq: invFreqOf(plan.rope), kernel: opts.kernel,
    pressKeptSets: opts.pressKeptSets,
  };
  const todo = plan.files.flatMap((file, fileIdx) => Array.from({ length: file.nLayers * plan.nKvHeads }, (_, i) => ({
    fileIdx, key: { task: file.task, promptIdx: file.promptIdx, layer: Math.floor(i / plan.nKvHeads), head: i % plan.nKvHeads },
  })));
  const planned = new Set(todo.map((t) => unitKeyOf(t.key)));
  // rows of files no longer in the corpus (or unreadable now) stay in the csv but not in this report
  const earlier = openUnitsCsv(unitsCsv, { future: opts.future, kMax: opts.kMax, seed: settings.seed, keep: opts.keep, ratios })
    .filter((r) => planned.has(unitKeyOf(r)));
  const done = new Set(earlier.map(unitKeyOf));
  const pending = todo.filter((t) => !done.has(unitKeyOf(t.key))).slice(0, Math.max(0, opts.maxUnits ?? Infinity));
  const pool = createFidelityPool(Math.min(threads, Math.max(pending.length, 1)));
  // cores are shared: each worker's onnxruntime (and mixture sweep) gets its slice, all of them in this thread
  settings.kernel = { ...opts.kernel, threads: opts.kernel?.threads ?? Math.max(1, Math.floor(threads / Math.max(pool.threads, 1))) };
  const quiet = opts.progressStream === null;
  const progress = createProgress(pending.length, opts.progressStream ?? process.stderr, quiet);
  const fresh: FidelityResult[] = [];
  try {
    const inFlight = new Set<Promise<void>>();
    let firstError: unknown;
    let cursor = 0;
    while (cursor < pending.length && firstError === undefined) {
      const fileIdx = pending[cursor]!.fileIdx;
      const file = plan.files[fileIdx]!;
      const reader = await openNpz(file.path);
      try {
        while (cursor < pending.length && pending[cursor]!.fileIdx === fileIdx && firstError === undefined) {
          const layer = pending[cursor]!.key.layer;
          const data = await readLayer(reader, file, layer, press);
          const perKv = plan.groupSize * file.tSub * file.headDim;
          const perHead = file.tSub * file.headDim;
          while (cursor < pending.length && pending[cursor]!.fileIdx === fileIdx && pending[cursor]!.key.layer === layer && firstError === undefined) {
            const { key } = pending[cursor]!;
            cursor++;
            const head = key.head;
            // copies: each unit's arrays own their buffers, so they move to a worker without the rest of the layer
            const job = pool.run({
              key,
              queries: data.queries.slice(head * perKv, (head + 1) * perKv),
              groupSize: plan.groupSize,
              keys: data.keys.slice(head * perHead, (head + 1) * perHead),
              values: data.values?.slice(head * perHead, (head + 1) * perHead),
              positions: data.positions.slice(),
              headDim: file.headDim,
            }, settings).then((row) => {
              appendFileSync(unitsCsv, `${formatFidelityRow(row, opts.keep, ratios)}\n`);
              fresh.push(row);
              progress.tick();
            }, (err: unknown) => { firstError ??= err; });
            const tracked: Promise<void> = job.finally(() => inFlight.delete(tracked));
            inFlight.add(tracked);
            // bounded look-ahead: at most two units per thread wait in memory
            if (inFlight.size >= 2 * Math.max(pool.threads, 1)) await Promise.race(inFlight);
          }
        }
      } finally {
        await reader.close();
      }
    }
    await Promise.all(inFlight);
    if (firstError !== undefined) throw firstError;
  } finally {
    progress.done();
    await pool.close();
  }
  const rows = [...earlier, ...fresh];
  const summary = summariseFidelity(rows, opts.keep, ratios);
  const skippedFiles = plan.bad.map((b) => ({ path: b.path, reason: b.reason }));
  const figures = await writeFidelityReport(out, rows, summary, { corpus: opts.corpus, future: opts.future, kMax: opts.kMax, seed: settings.seed, skippedFiles });
  return {
    report: out, unitsCsv, figures, rows, unitsResumed: earlier.length, summary, skippedFiles, workerThreads: pool.threads,
    seconds: (performance.now() - started) / 1000,
  };
}

function unitKeyOf(r: { task: string; promptIdx: number; layer: number; head: number }): string {
  return `${r.task}/${r.promptIdx}/${r.layer}/${r.head}`;
}

/**
 * The rows an earlier run left in the csv when it ran with the same settings (recorded in
 * `<csv>.settings.json`); otherwise the csv is started afresh with its header.
 */
function openUnitsCsv(path: string, runSettings: Record<string, unknown>): FidelityResult[] {
  const settingsFile = `${path}.settings.json`;
  const wanted = JSON.stringify(runSettings);
  if (existsSync(path) && existsSync(settingsFile) && readFileSync(settingsFile, 'utf8').trim() === wanted) {
    try {
      const text = readFileSync(path, 'utf8');
      // a line cut by a kill is dropped from the file too, so appends start on a fresh line
      const whole = text.slice(0, text.lastIndexOf('\n') + 1);
      if (whole.length !== text.length) writeFileSync(path, whole);
      return parseFidelityCsv(whole, runSettings.keep as number[], runSettings.ratios as number[]);
    } catch {
      // unreadable: fall through and start again
    }
  }
  writeFileSync(path, `${fidelityColumns(runSettings.keep as number[], runSettings.ratios as number[]).join(',')}\n`);
  writeFileSync(settingsFile, `${wanted}\n`);
  return [];
}
