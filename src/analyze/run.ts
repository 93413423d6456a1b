import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { openNpz, type NpzReader } from '../npz/index.js';
import { UserError } from '../errors.js';
import type { Shard } from '../cli/parse.js';
import { planCorpus, readLayerUnits, unitKeysOf, type BadFile, type Granularity } from './corpus-units.js';
import { createUnitPool } from './pool.js';
import { createProgress } from './progress.js';
import { openUnitsCsv, readUnitsCsv, unitId } from './units-csv.js';
import type { UnitResult, UnitSettings } from './unit.js';
import { powerChunks, powerRows, type PowerParams } from './ks-power.js';
import { readPowerTable, storePowerTable } from './ks-power-cache.js';
import { unitPowerParams } from './ks-power-shapes.js';
import { writeReport, type ReportSettings } from '../report/index.js';

/** Options of `poc analyze` (see its --help). */
export interface AnalyzeOptions {
  corpus: string;
  out: string;
  units?: string;
  kMax: number;
  covariance: 'full' | 'diag';
  granularity: Granularity;
  kvHeads?: number;
  holdout: number;
  alpha: number;
  seed: number;
  shard?: Shard;
  /** worker threads; default all cores */
  threads?: number;
  /** progress output (default process.stderr); null for none */
  progressStream?: { write(s: string): unknown; isTTY?: boolean } | null;
  /** stop after this many units (tests: simulates a killed run) */
  maxUnits?: number;
  /** planted-alternative draws for the KS power table in the report (default 20) */
  powerDraws?: number;
  /** aborting stops dispatching units; those running finish and are written, then UserError */
  signal?: AbortSignal;
}

/** What `poc analyze` did and wrote. */
export interface AnalyzeResult {
  unitsCsv: string;
  report: string;
  figures: string[];
  /** units of this shard (all of them without --shard) */
  unitsPlanned: number;
  /** analysed in this run */
  unitsAnalysed: number;
  /** already in the CSV from an earlier run */
  unitsSkipped: number;
  badFiles: BadFile[];
  /** worker threads used (0 = the units ran in this thread) */
  workerThreads: number;
  seconds: number;
}

/** The per-unit CSV path used when --units is not given: `<out>.units.csv` beside it, as the contract names it (report.md -> report.md.units.csv). */
export function defaultUnitsPath(out: string): string {
  return `${out}.units.csv`;
}

/** Runs the per-unit statistics over a corpus (resuming from the CSV) and writes the report. */
export async function runAnalysis(opts: AnalyzeOptions): Promise<AnalyzeResult> {
  const started = performance.now();
  const out = resolve(opts.out);
  const unitsCsv = resolve(opts.units ?? defaultUnitsPath(out));
  const plan = await planCorpus(opts.corpus, opts.kvHeads);
  mkdirSync(dirname(unitsCsv), { recursive: true });
  mkdirSync(dirname(out), { recursive: true });
  let existing: UnitResult[];
  let csv: ReturnType<typeof openUnitsCsv>;
  try {
    csv = openUnitsCsv(unitsCsv);
    existing = readUnitsCsv(unitsCsv);
  } catch (err) {
    throw new UserError(`${(err as Error).message}; --units must be a per-unit csv written by poc analyze (or a new path)`);
  }
  checkRunSettings(unitsCsv, {
    kMax: opts.kMax, covariance: opts.covariance, granularity: opts.granularity, holdout: opts.holdout, alpha: opts.alpha,
    seed: opts.seed, kvHeads: plan.nKvHeads,
  });
  const done = new Set(existing.map(unitId));
  for (const b of plan.bad) {
    const row = badFileRow(b);
    if (!done.has(unitId(row))) { csv.append(row); done.add(unitId(row)); }
  }
  const settings: UnitSettings = { kMax: opts.kMax, covariance: opts.covariance, holdout: opts.holdout, alpha: opts.alpha, seed: opts.seed };

  // every unit of the corpus in a fixed order; this shard takes every n-th
  const todo: Array<{ fileIdx: number; layer: number; head: number }> = [];
  let planned = 0, skipped = 0, globalIdx = 0;
  plan.files.forEach((file, fileIdx) => {
    for (let layer = 0; layer < file.nLayers; layer++) {
      for (const key of unitKeysOf(file, layer, opts.granularity, plan.nKvHeads)) {
        const mine = !opts.shard || globalIdx % opts.shard.count === opts.shard.index;
        globalIdx++;
        if (!mine) continue;
        planned++;
        if (done.has(unitId(key))) skipped++;
        else todo.push({ fileIdx, layer, head: key.head });
      }
    }
  });
  const limit = Math.min(todo.length, opts.maxUnits ?? Infinity);
  const threads = Math.max(1, opts.threads ?? os.availableParallelism?.() ?? os.cpus().length);
  // the report's KS power table, when not cached, is simulated on the pool beside the units
  // (a few seconds of CPU at 4096 x 128 that would otherwise follow the last unit)
  const power = limit > 0 && threads > 1 ? plannedPowerTable(plan.files[todo[0]!.fileIdx]!, opts, plan.groupSize) : undefined;
  const pool = createUnitPool(Math.min(threads, Math.max(limit + (power ? 1 : 0), 1)));
  // cores are shared: each worker's onnxruntime gets its slice (all of them when running in this thread)
  settings.kernelThreads = Math.max(1, Math.floor(threads / Math.max(pool.threads, 1)));
  const progress = createProgress(limit, opts.progressStream === undefined ? process.stderr : opts.progressStream ?? { write: () => true }, opts.progressStream === null);
  const bad: BadFile[] = [...plan.bad];
  let analysed = 0;
  let powerJob: Promise<void> | undefined;
  try {
    const inFlight = new Set<Promise<void>>();
    let firstError: unknown;
    let cursor = 0;
    const stop = () => firstError !== undefined || opts.signal?.aborted === true;
    while (cursor < limit && !stop()) {
      const fileIdx = todo[cursor]!.fileIdx;
      const file = plan.files[fileIdx]!;
      let reader: NpzReader | undefined;
      try {
        reader = await openNpz(file.path);
        while (cursor < limit && todo[cursor]!.fileIdx === fileIdx && !stop()) {
          const layer = todo[cursor]!.layer;
          const units = await readLayerUnits(reader, file, layer, opts.granularity, plan.groupSize);
          while (cursor < limit && todo[cursor]!.fileIdx === fileIdx && todo[cursor]!.layer === layer && !stop()) {
            const unit = units[todo[cursor]!.head]!;
            cursor++;
            const key = { task: file.task, promptIdx: file.promptIdx, layer, head: unit.head };
            const job = pool.run({ key, X: unit.X, strata: unit.strata, settings }).then((result) => {
              csv.append(result);
              analysed++;
              progress.tick();
            }, (err: unknown) => { firstError ??= err; });
            const tracked: Promise<void> = job.finally(() => inFlight.delete(tracked));
            inFlight.add(tracked);
            // after the first unit, so a short run starts on its units and the table fills the gaps
            powerJob ??= power && pool.threads > 1 ? simulateOnPool(pool, power) : Promise.resolve();
            // bounded look-ahead: at most two units per thread wait in memory
            if (inFlight.size >= 2 * Math.max(pool.threads, 1)) await Promise.race(inFlight);
          }
        }
      } catch (err) {
        // a file that lists fine but fails to read (truncated, corrupt member): report it, skip its units
        const b: BadFile = { path: file.path, task: file.task, promptIdx: file.promptIdx, reason: (err as Error).message.split('\n')[0]! };
        bad.push(b);
        csv.append(badFileRow(b));
        while (cursor < limit && todo[cursor]!.fileIdx === fileIdx) cursor++;
      } finally {
        await reader?.close();
      }
    }
    await Promise.all(inFlight);
    if (firstError !== undefined) throw firstError;
    if (!opts.signal?.aborted) await powerJob;
    if (opts.signal?.aborted) {
      throw new UserError(`interrupted after ${analysed} unit(s), all written to ${unitsCsv}; run the same command again to resume`);
    }
  } finally {
    progress.done();
    await pool.close();
  }

  const rows = readUnitsCsv(unitsCsv);
  const reportSettings: ReportSettings = {
    corpus: opts.corpus, kMax: opts.kMax, covariance: opts.covariance, granularity: opts.granularity, holdout: opts.holdout,
    alpha: opts.alpha, seed: opts.seed, shard: opts.shard ? `${opts.shard.index}/${opts.shard.count}` : undefined,
    powerDraws: opts.powerDraws,
  };
  const report = await writeReport(out, rows, reportSettings);
  return {
    unitsCsv, report: out, figures: report.figures, unitsPlanned: planned, unitsAnalysed: analysed, unitsSkipped: skipped,
    badFiles: bad, workerThreads: pool.threads, seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The power table the report will ask for, if it is not cached: its shape is that of every
 * unit of a corpus file (rows split by the same stratified holdout), so it is known before
 * any unit runs. A corpus of mixed shapes may ask the report for another; it is then simulated there.
 */
function plannedPowerTable(file: { nQHeads: number; tSub: number; headDim: number }, opts: AnalyzeOptions, groupSize: number): PowerParams | undefined {
  const draws = opts.powerDraws ?? 20;
  if (draws <= 0) return undefined;
  const shape = { strata: opts.granularity === 'kv' ? groupSize : 1, tSub: file.tSub, headDim: file.headDim };
  const p = unitPowerParams(shape, { holdout: opts.holdout, alpha: opts.alpha, seed: opts.seed, draws });
  // shipped with the package (the published corpus, the demo) or cached by an earlier run
  return readPowerTable(p) ? undefined : p;
}

/** Runs the table's chunks on the pool's free workers and caches the result; a failure leaves it to the report. */
async function simulateOnPool(pool: ReturnType<typeof createUnitPool>, p: PowerParams): Promise<void> {
  // one draw a chunk (~60 ms at 4096 x 128): every free worker takes the next, so none is left
  // finishing a long chunk alone at the end
  const chunks = powerChunks(p.draws, 1);
  try {
    const hits = await Promise.all(chunks.map((c) => pool.runPower(p, c, 1)));
    storePowerTable(p, powerRows(p, chunks, hits));
  } catch {
    // the report simulates it itself
  }
}

/** Path of the settings record kept beside a units csv. */
export function settingsPath(unitsCsv: string): string {
  return `${unitsCsv}.settings.json`;
}

/**
 * Resuming appends to the csv, so the rows must come from the same settings: the first run
 * records them beside the csv and later runs (and shards sharing the csv) must match.
 */
function checkRunSettings(unitsCsv: string, settings: Record<string, string | number>): void {
  const path = settingsPath(unitsCsv);
  if (existsSync(path)) {
    const before = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const diffs = Object.keys(settings).filter((k) => before[k] !== settings[k]).map((k) => `${k} ${String(before[k])} -> ${settings[k]}`);
    if (diffs.length > 0) throw new UserError(`${unitsCsv} was written with other settings (${diffs.join(', ')}); pass a new --units path or the same flags`);
    return;
  }
  writeFileSync(path, `${JSON.stringify(settings, null, 2)}\n`);
}

/** A CSV row that records a skipped file (layer and head -1), so reports built from shards list it. */
export function badFileRow(b: BadFile): UnitResult {
  return {
    task: b.task, promptIdx: b.promptIdx, layer: -1, head: -1, nTrain: 0, nTest: 0, dim: 0, bestK: 0, deltaBicK1: NaN,
    ksStat: NaN, ksP: NaN, ksPass: false, llTestK1: NaN, llTestGmm: NaN, llTestKde: NaN, llTestT: NaN, bicK1: NaN,
    bicBest: NaN, bicT: NaN, tDof: NaN, nModes: 0, bicByK: [], pitHist: [], seconds: 0, status: `bad file: ${b.reason}`,
  };
}
