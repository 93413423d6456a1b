import { median } from '../report/aggregate.js';
import { METHODS, MIXTURE_FAILED, type FidelityResult, type Method } from './unit.js';
import { summarisePress, type PressSummary } from './press-summary.js';

/**
 * Aggregates of per-unit fidelity rows: per layer and overall, each prediction's median
 * rho, mean recall and kept mass per keep fraction, median log mass ratio, and the units
 * where the mixture gains most and least over the single Gaussian.
 */

export interface FidelityGroupSummary {
  /** 'all' or 'layer N' */
  group: string;
  units: number;
  medianRho: Record<Method, number>;
  /** [keep index] */
  meanRecall: Record<Method, number[]>;
  meanKeptMass: Record<Method | 'oracle', number[]>;
  medianLogMass: Record<Method, number>;
  /** share (0..1) of units with a mixture where its rho beats the Gaussian's */
  mixtureWins: number;
  meanBestK: number;
}

export interface FidelitySummary {
  keep: number[];
  /** the press simulation's aggregates (undefined with --no-press or no pressed unit) */
  press?: PressSummary;
  overall: FidelityGroupSummary;
  byLayer: FidelityGroupSummary[];
  /** ok units sorted by rho_mixture - rho_gaussian, largest first */
  byGain: FidelityResult[];
  failed: FidelityResult[];
  meanSecondsPerUnit: number;
  /** median tokens spanned by a unit's future positions */
  medianFutureSpan: number;
}

/** rho_mixture - rho_gaussian of a unit. */
export function mixtureGain(r: FidelityResult): number {
  return r.rho.mixture - r.rho.gaussian;
}

/** Summarises the rows; failed units are listed apart (those with only a failed mixture still count for the other predictions). */
export function summariseFidelity(rows: FidelityResult[], keep: number[], ratios: number[] = []): FidelitySummary {
  // a unit whose mixture failed still counts for the other predictions (its mixture metrics are NaN)
  const ok = rows.filter((r) => r.status === 'ok' || r.status.startsWith(MIXTURE_FAILED));
  const layers = [...new Set(ok.map((r) => r.layer))].sort((a, b) => a - b);
  return {
    keep,
    press: summarisePress(ok, ratios),
    overall: summariseGroup('all', ok, keep),
    byLayer: layers.map((l) => summariseGroup(`layer ${l}`, ok.filter((r) => r.layer === l), keep)),
    byGain: [...ok].filter((r) => Number.isFinite(mixtureGain(r))).sort((a, b) => mixtureGain(b) - mixtureGain(a)),
    failed: rows.filter((r) => r.status !== 'ok'),
    meanSecondsPerUnit: mean(rows.map((r) => r.seconds)),
    medianFutureSpan: median(finite(ok.map((r) => r.futureSpan))),
  };
}

function summariseGroup(group: string, rows: FidelityResult[], keep: number[]): FidelityGroupSummary {
  const per = <T>(make: (m: Method) => T): Record<Method, T> => Object.fromEntries(METHODS.map((m) => [m, make(m)])) as Record<Method, T>;
  const keepMeans = (get: (r: FidelityResult, i: number) => number) => keep.map((_, i) => mean(rows.map((r) => get(r, i))));
  return {
    group,
    units: rows.length,
    medianRho: per((m) => median(finite(rows.map((r) => r.rho[m])))),
    meanRecall: per((m) => keepMeans((r, i) => r.recall[m][i]!)),
    meanKeptMass: { ...per((m) => keepMeans((r, i) => r.keptMass[m][i]!)), oracle: keepMeans((r, i) => r.oracleMass[i]!) },
    medianLogMass: per((m) => median(finite(rows.map((r) => r.logMass[m])))),
    mixtureWins: share(rows.filter((r) => Number.isFinite(mixtureGain(r))), (r) => mixtureGain(r) > 0),
    meanBestK: mean(rows.map((r) => r.bestK)),
  };
}

function share<T>(rows: T[], pred: (r: T) => boolean): number {
  return rows.length === 0 ? NaN : rows.filter(pred).length / rows.length;
}

function finite(values: number[]): number[] {
  return values.filter(Number.isFinite);
}

function mean(values: number[]): number {
  const v = finite(values);
  return v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length;
}
