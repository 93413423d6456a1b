import type { GmmFit, Matrix } from '../stats/types.js';
import { stratifiedHoldout } from '../stats/split.js';
import { directionalPitTest, pitDirections } from '../stats/pit.js';
import { kdeLogPdf } from '../stats/kde.js';
import { countModes } from '../stats/modes.js';
import { seedFrom } from '../util/rng.js';
import { createEngine, type FitEngine } from './engine.js';

/**
 * The statistics of one unit (the queries of one kv head's query heads, or of one query
 * head, in one prompt and layer): BIC sweep, directional PIT-KS at the best K, held-out
 * log-likelihoods of K=1 / best GMM / Silverman KDE / Student-t, and the mode count.
 */

/** Per-unit analysis settings (the analyze flags that change a unit's numbers). */
export interface UnitSettings {
  kMax: number;
  covariance: 'full' | 'diag';
  /** held-out fraction */
  holdout: number;
  alpha: number;
  seed: number;
  /** seeded random PIT directions (the fitted means add up to 16 more) */
  pitDirections?: number;
  /** onnxruntime threads inside one unit's fits (default: all cores; the pool sets cores / workers) */
  kernelThreads?: number;
}

/** Which unit: its place in the corpus; `head` is the kv head (or q head with granularity q). */
export interface UnitKey {
  task: string;
  promptIdx: number;
  layer: number;
  head: number;
}

/** One row of the per-unit CSV (contract columns, then extras). */
export interface UnitResult extends UnitKey {
  nTrain: number;
  nTest: number;
  dim: number;
  bestK: number;
  /** BIC(K=1) - BIC(best K) */
  deltaBicK1: number;
  ksStat: number;
  ksP: number;
  ksPass: boolean;
  /** mean nats per held-out sample */
  llTestK1: number;
  llTestGmm: number;
  llTestKde: number;
  llTestT: number;
  bicK1: number;
  bicBest: number;
  bicT: number;
  tDof: number;
  nModes: number;
  /** BIC for K = 1..kMax */
  bicByK: number[];
  /** counts of the worst-direction PIT values in 10 equal bins */
  pitHist: number[];
  seconds: number;
  /** 'ok', or why this unit has no statistics (e.g. NaN in the data) */
  status: string;
  /** seconds per statistic (split, sweep, gmmLogPdf, kde, studentT, pit, modes), for benchmarks; not in the CSV */
  secondsBy?: Partial<Record<Statistic, number>>;
}

/** The steps of a unit timed separately in UnitResult.secondsBy. */
export type Statistic = 'split' | 'sweep' | 'gmmLogPdf' | 'kde' | 'studentT' | 'pit' | 'modes';

/** A stopwatch that adds each step's seconds to `into`. */
function stopwatch(into: Partial<Record<Statistic, number>>): <T>(step: Statistic, run: () => T) => T {
  return (step, run) => {
    const t = performance.now();
    const add = () => { into[step] = (into[step] ?? 0) + (performance.now() - t) / 1000; };
    const out = run();
    if (out instanceof Promise) return out.finally(add) as typeof out;
    add();
    return out;
  };
}

/** Bins of the PIT histogram kept per unit (for the report's PIT figure). */
export const PIT_BINS = 10;

/** Runs every statistic on one unit; `strata[i]` is the query head of row i (for the stratified split). */
export async function analyzeUnit(
  X: Matrix, strata: ArrayLike<number>, key: UnitKey, settings: UnitSettings, engine: FitEngine = createEngine({ threads: settings.kernelThreads }),
): Promise<UnitResult> {
  const started = performance.now();
  const secondsBy: Partial<Record<Statistic, number>> = {};
  const timed = stopwatch(secondsBy);
  const unitSeed = seedFrom(settings.seed, key.task, key.promptIdx, key.layer, key.head);
  const { train, test } = timed('split', () => {
    const { train: trainIdx, test: testIdx } = stratifiedHoldout(strata, settings.holdout, unitSeed);
    return { train: takeRows(X, trainIdx), test: takeRows(X, testIdx) };
  });
  const base = emptyResult(key, train.rows, test.rows, X.cols);
  const bad = firstNonFinite(X);
  if (bad !== undefined) return { ...base, status: `non-finite value in row ${bad}`, seconds: elapsed(started) };

  try {
    return { ...await fullStatistics(train, test, base, settings, engine, unitSeed, timed), seconds: elapsed(started), secondsBy };
  } catch (err) {
    // degenerate data the engine refuses (duplicate rows, a constant dimension): a reported failure for this unit
    return { ...base, status: `fit failed: ${(err as Error).message}`, seconds: elapsed(started) };
  }
}

async function fullStatistics(
  train: Matrix, test: Matrix, base: UnitResult, settings: UnitSettings, engine: FitEngine, unitSeed: number,
  timed: ReturnType<typeof stopwatch>,
): Promise<UnitResult> {
  const fits: GmmFit[] = await timed('sweep', () => engine.sweep(train, { kMax: settings.kMax, covariance: settings.covariance, seed: unitSeed }));
  let best = fits[0]!;
  for (const f of fits) if (f.bic < best.bic) best = f;
  const k1 = fits[0]!;
  const llK1 = mean(await timed('gmmLogPdf', () => engine.logPdf(k1, test)));
  const llGmm = best === k1 ? llK1 : mean(await timed('gmmLogPdf', () => engine.logPdf(best, test)));
  // float64 covariance and whitening, float32 train x test products: ~1e-5 nats per log density (see KdeOptions)
  const kde = await timed('kde', () => kdeLogPdf(train, test, { precision: 'float64', crossPrecision: 'float32', threads: settings.kernelThreads }));
  let tStats = { ll: NaN, bic: NaN, dof: NaN };
  try {
    tStats = await timed('studentT', async () => {
      const t = await engine.fitT(train);
      return { ll: mean(await engine.tLogPdf(t.params, test)), bic: t.bic, dof: t.params.dof };
    });
  } catch {
    // a singular scatter leaves the t columns empty; the GMM columns still stand
  }
  const pit = timed('pit', () => directionalPitTest(best, test, train.rows, pitDirections(best, settings.pitDirections ?? 16, unitSeed)));
  const pitHist = new Array<number>(PIT_BINS).fill(0);
  for (const u of pit.worstPit) pitHist[Math.min(PIT_BINS - 1, Math.floor(u * PIT_BINS))]!++;
  return {
    ...base,
    bestK: best.k,
    deltaBicK1: k1.bic - best.bic,
    ksStat: pit.ksStat,
    ksP: pit.pValue,
    ksPass: pit.pValue >= settings.alpha,
    llTestK1: llK1,
    llTestGmm: llGmm,
    llTestKde: kde ? mean(kde) : NaN,
    llTestT: tStats.ll,
    bicK1: k1.bic,
    bicBest: best.bic,
    bicT: tStats.bic,
    tDof: tStats.dof,
    nModes: timed('modes', () => countModes(best).nModes),
    bicByK: fits.map((f) => f.bic),
    pitHist,
    status: 'ok',
  };
}

function emptyResult(key: UnitKey, nTrain: number, nTest: number, dim: number): UnitResult {
  return {
    ...key, nTrain, nTest, dim, bestK: 0, deltaBicK1: NaN, ksStat: NaN, ksP: NaN, ksPass: false,
    llTestK1: NaN, llTestGmm: NaN, llTestKde: NaN, llTestT: NaN, bicK1: NaN, bicBest: NaN, bicT: NaN, tDof: NaN,
    nModes: 0, bicByK: [], pitHist: [], seconds: 0, status: 'ok',
  };
}

/** The rows `idx` of X as a new matrix of the same element type. */
export function takeRows(X: Matrix, idx: Int32Array): Matrix {
  const d = X.cols;
  const data = X.data instanceof Float32Array ? new Float32Array(idx.length * d) : new Float64Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) data.set(X.data.subarray(idx[i]! * d, (idx[i]! + 1) * d), i * d);
  return { data, rows: idx.length, cols: d };
}

function firstNonFinite(X: Matrix): number | undefined {
  for (let i = 0; i < X.data.length; i++) if (!Number.isFinite(X.data[i]!)) return Math.floor(i / X.cols);
  return undefined;
}

function mean(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

function elapsed(started: number): number {
  return (performance.now() - started) / 1000;
}
