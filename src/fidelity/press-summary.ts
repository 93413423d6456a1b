import { quantile } from '../report/aggregate.js';
import { SCORERS, type Scorer } from './press-scorers.js';
import type { FidelityResult } from './unit.js';

/**
 * Aggregates of the press simulation over units: per scorer and ratio the median and
 * interquartile range of the units' output errors and the mean kept mass (overall, by
 * layer, by the unit's BIC-best K), the mixture-versus-kvpress headline at one ratio, and
 * whether the value-norm rescaling helped.
 */

export interface Spread {
  median: number;
  q1: number;
  q3: number;
}

export interface PressGroup {
  /** 'all', 'layer N', 'K = 1' or 'K > 1' */
  group: string;
  units: number;
  /** [ratio index]: spread over units of err_<scorer>@<ratio> */
  err: Record<Scorer, Spread[]>;
  /** [ratio index]: mean over units of mass_<scorer>@<ratio> */
  mass: Record<Scorer, number[]>;
}

/** Mixture against kvpress's one Gaussian (or use_vnorm against none) at one ratio, over the units where both ran. */
export interface PairComparison {
  group: string;
  units: number;
  /** median output error of each side */
  medianA: number;
  medianB: number;
  /** share (0..1) of units where A's error is strictly lower, strictly higher, equal */
  better: number;
  worse: number;
  tied: number;
  /** median over units of err_A / err_B */
  medianRatio: number;
}

export interface PressSummary {
  ratios: number[];
  overall: PressGroup;
  byLayer: PressGroup[];
  /** units whose BIC-best K is 1, then > 1 */
  byK: PressGroup[];
  /** the ratio of the headline: 0.5 when simulated, else the nearest */
  headlineRatio: number;
  /** expected_attention_mixture (A) against expected_attention (B) at the headline ratio: all, K = 1, K > 1 */
  mixture: PairComparison[];
  /** expected_attention (A, with |v|) against expected_attention_novnorm (B), per ratio, all units */
  vnorm: PairComparison[];
}

/** The press aggregates of rows that carry a press simulation (undefined when none does). */
export function summarisePress(rows: FidelityResult[], ratios: number[]): PressSummary | undefined {
  const pressed = rows.filter((r) => r.press !== undefined && SCORERS.some((s) => r.press!.err[s].some(Number.isFinite)));
  if (ratios.length === 0 || pressed.length === 0) return undefined;
  const layers = [...new Set(pressed.map((r) => r.layer))].sort((a, b) => a - b);
  const withK = pressed.filter((r) => r.bestK >= 1);
  const k1 = withK.filter((r) => r.bestK === 1), kMany = withK.filter((r) => r.bestK > 1);
  const h = headlineIndex(ratios);
  const mixtureAt = (group: string, units: FidelityResult[]) => compare(group, units, 'expected_attention_mixture', 'expected_attention', h);
  return {
    ratios,
    overall: pressGroup('all', pressed, ratios),
    byLayer: layers.map((l) => pressGroup(`layer ${l}`, pressed.filter((r) => r.layer === l), ratios)),
    byK: [pressGroup('K = 1', k1, ratios), pressGroup('K > 1', kMany, ratios)],
    headlineRatio: ratios[h]!,
    mixture: [mixtureAt('all', pressed), mixtureAt('K = 1', k1), mixtureAt('K > 1', kMany)],
    vnorm: ratios.map((r, i) => compare(`${r}`, pressed, 'expected_attention', 'expected_attention_novnorm', i)),
  };
}

/** Index of 0.5 in the ratios, or of the one nearest to it. */
export function headlineIndex(ratios: number[]): number {
  let best = 0;
  ratios.forEach((r, i) => { if (Math.abs(r - 0.5) < Math.abs(ratios[best]! - 0.5)) best = i; });
  return best;
}

function pressGroup(group: string, rows: FidelityResult[], ratios: number[]): PressGroup {
  const per = <T>(make: (s: Scorer) => T) => Object.fromEntries(SCORERS.map((s) => [s, make(s)])) as Record<Scorer, T>;
  return {
    group,
    units: rows.length,
    err: per((s) => ratios.map((_, i) => spread(rows.map((r) => r.press!.err[s][i]!)))),
    mass: per((s) => ratios.map((_, i) => mean(rows.map((r) => r.press!.mass[s][i]!)))),
  };
}

function compare(group: string, rows: FidelityResult[], a: Scorer, b: Scorer, i: number): PairComparison {
  const pairs = rows.map((r) => [r.press!.err[a][i]!, r.press!.err[b][i]!] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pairs.length;
  const share = (pred: (x: number, y: number) => boolean) => (n === 0 ? NaN : pairs.filter(([x, y]) => pred(x, y)).length / n);
  return {
    group, units: n,
    medianA: quantile(pairs.map(([x]) => x), 0.5),
    medianB: quantile(pairs.map(([, y]) => y), 0.5),
    better: share((x, y) => x < y), worse: share((x, y) => x > y), tied: share((x, y) => x === y),
    medianRatio: quantile(pairs.filter(([, y]) => y > 0).map(([x, y]) => x / y), 0.5),
  };
}

function spread(values: number[]): Spread {
  const v = values.filter(Number.isFinite);
  return { median: quantile(v, 0.5), q1: quantile(v, 0.25), q3: quantile(v, 0.75) };
}

function mean(values: number[]): number {
  const v = values.filter(Number.isFinite);
  return v.length === 0 ? NaN : v.reduce((x, y) => x + y, 0) / v.length;
}
