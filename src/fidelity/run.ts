import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { fidelityUnit, type FidelityResult, type FidelitySettings } from './unit.js';

/**
 * `poc fidelity` end to end: plan the corpus, score each (layer, kv head, prompt) unit not
 * yet in the units csv, append it there, then write the report from all rows.
 */

/** Options of `poc fidelity` (see its --help). */
export interface FidelityOptions {
  corpus: string;
  out: string;
  kMax: number;
  /** latest fraction of each prompt's sampled positions used as future queries */
  future: number;
  keep: number[];
  seed?: number;
  /** progress output (default process.stderr); null for none */
  progressStream?: { write(s: string): unknown; isTTY?: boolean } | null;
  /** statistics kernels (default onnxruntime on all cores) */
  kernel?: KernelOptions;
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
  seconds: number;
}

/** Scores every (layer, kv head, prompt) unit of a --with-keys corpus and writes the CSV and the report. */
export async function runFidelity(opts: FidelityOptions): Promise<FidelityRunResult> {
  const started = performance.now();
  const out = resolve(opts.out);
  const unitsCsv = defaultUnitsPath(out);
  const plan = await planFidelityCorpus(opts.corpus);
  mkdirSync(dirname(out), { recursive: true });
  const settings: FidelitySettings = {
    future: opts.future, keep: opts.keep, kMax: opts.kMax, seed: opts.seed ?? 0, invFreq: invFreqOf(plan.rope), kernel: opts.kernel,
  };
  const planned = new Set(plan.files.flatMap((f) => Array.from({ length: f.nLayers * plan.nKvHeads }, (_, i) => unitKeyOf({
    task: f.task, promptIdx: f.promptIdx, layer: Math.floor(i / plan.nKvHeads), head: i % plan.nKvHeads,
  }))));
  // rows of files no longer in the corpus (or unreadable now) stay in the csv but not in this report
  const earlier = openUnitsCsv(unitsCsv, { future: opts.future, kMax: opts.kMax, seed: settings.seed, keep: opts.keep })
    .filter((r) => planned.has(unitKeyOf(r)));
  const done = new Set(earlier.map(unitKeyOf));
  const limit = Math.min(planned.size - done.size, opts.maxUnits ?? Infinity);
  const quiet = opts.progressStream === null;
  const progress = createProgress(Math.max(limit, 0), opts.progressStream ?? process.stderr, quiet);
  const fresh: FidelityResult[] = [];
  try {
    for (const file of plan.files) {
      if (fresh.length >= limit) break;
      const reader = await openNpz(file.path);
      try {
        for (let layer = 0; layer < file.nLayers && fresh.length < limit; layer++) {
          const heads = Array.from({ length: plan.nKvHeads }, (_, head) => head)
            .filter((head) => !done.has(unitKeyOf({ task: file.task, promptIdx: file.promptIdx, layer, head })));
          if (heads.length === 0) continue;
          const data = await readLayer(reader, file, layer);
          const perKv = plan.groupSize * file.tSub * file.headDim;
          const keysPerHead = file.tSub * file.headDim;
          for (const head of heads) {
            if (fresh.length >= limit) break;
            const row = await fidelityUnit({
              key: { task: file.task, promptIdx: file.promptIdx, layer, head },
              queries: data.queries.subarray(head * perKv, (head + 1) * perKv),
              groupSize: plan.groupSize,
              keys: data.keys.subarray(head * keysPerHead, (head + 1) * keysPerHead),
              positions: data.positions,
              headDim: file.headDim,
            }, settings);
            appendFileSync(unitsCsv, `${formatFidelityRow(row, opts.keep)}\n`);
            fresh.push(row);
            progress.tick();
          }
        }
      } finally {
        await reader.close();
      }
    }
  } finally {
    progress.done();
  }
  const rows = [...earlier, ...fresh];
  const summary = summariseFidelity(rows, opts.keep);
  const skippedFiles = plan.bad.map((b) => ({ path: b.path, reason: b.reason }));
  const figures = await writeFidelityReport(out, rows, summary, { corpus: opts.corpus, future: opts.future, kMax: opts.kMax, seed: settings.seed, skippedFiles });
  return { report: out, unitsCsv, figures, rows, unitsResumed: earlier.length, summary, skippedFiles, seconds: (performance.now() - started) / 1000 };
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
      return parseFidelityCsv(whole, runSettings.keep as number[]);
    } catch {
      // unreadable: fall through and start again
    }
  }
  writeFileSync(path, `${fidelityColumns(runSettings.keep as number[]).join(',')}\n`);
  writeFileSync(settingsFile, `${wanted}\n`);
  return [];
}
