import type { UnitResult } from '../analyze/unit.js';
import { spearman } from '../stats/spearman.js';
import { createRng } from '../util/rng.js';

/**
 * The numbers of the report, computed from per-unit rows only (so `poc merge` and
 * `poc analyze` give the same report): headline rates, controls, rank stability with a
 * within-layer permutation null, and breakdowns.
 */

/** ΔBIC = BIC(K=1) − BIC(best K) above which a unit rejects one Gaussian (the published bar). */
export const REJECT_DELTA_BIC = 10;

/** Headline rates over a set of units (percentages 0..100). */
export interface Summary {
  units: number;
  /** % with delta BIC(K=1 - best) > 10 */
  pctRejectK1: number;
  medianBestK: number;
  meanBestK: number;
  pctKsPass: number;
  pctGmmBeatsKde: number;
  /** % where the Student-t has a lower BIC than the best GMM */
  pctTBeatsGmmBic: number;
  /** % where the Student-t has a higher held-out log-likelihood than the best GMM */
  pctTBeatsGmmLl: number;
}

/** Median and quartiles of a finite sample of n values. */
export interface Quantiles { median: number; q25: number; q75: number; n: number }

/** Rank stability of K* across prompts, each rho beside its within-layer permutation null. */
export interface Stability {
  /** Spearman rho of unit-level mean K* between two halves of the prompts (alternating), over (layer, head) */
  splitHalfRho: number;
  splitHalfNull: Quantiles & { q95: number };
  /** mean pairwise rho of per-unit K* between prompts of the same task / of different tasks */
  withinTaskRho: number;
  withinTaskNull: number;
  acrossTaskRho: number;
  acrossTaskNull: number;
  pairsWithin: number;
  pairsAcross: number;
  permutations: number;
}

/** Headline rates for one task, layer or head. */
export interface BreakdownRow extends Summary { group: string }

/**
 * The controls applied to the units that reject one Gaussian: a rejection is explained when
 * a unimodal Student-t has a lower BIC than the best mixture (heavy tails, not modes) or when
 * the best mixture has a single mode (its components shape one peak). The control counts are
 * over the rejecting units that carry both controls (the Student-t fit can fail on a unit, and
 * CSV files from elsewhere may lack the columns).
 */
export interface RejectingControls {
  /** units with ΔBIC > REJECT_DELTA_BIC */
  units: number;
  /** rejecting units with a Student-t BIC and a mode count; the counts below are among them */
  controlled: number;
  tBeatsGmmBic: number;
  oneMode: number;
  /** explained by either control; the rest have ≥ 2 modes and the t is not better */
  explained: number;
  multimodal: number;
  /** rejecting units with held-out log-likelihoods, and among them those where the mixture beats K=1 */
  withHeldOut: number;
  gmmBeatsK1HeldOut: number;
  /** held-out margin GMM − K=1 over the rejecting units, nats per sample */
  gmmMinusK1: Quantiles;
}

/** Everything the report shows, computed from per-unit rows. */
export interface Aggregates {
  summary: Summary;
  margins: { gmmMinusK1: Quantiles; gmmMinusKde: Quantiles; tMinusGmm: Quantiles };
  /** the KDE control: how often one Gaussian (not only the mixture) beats the same KDE on held-out queries */
  kde: { units: number; pctK1BeatsKde: number; pctGmmBeatsKde: number };
  rejecting: RejectingControls;
  /** false when every row's sweep stopped at K = 1 (--k-max 1): nothing could reject one Gaussian; undefined if unknown */
  mixturesFitted: boolean | undefined;
  modes: { medianModes: number; pctFewerModesThanK: number; table: Array<{ bestK: number; nModes: number; count: number }> };
  stability: Stability | undefined;
  byTask: BreakdownRow[];
  byLayer: BreakdownRow[];
  byHead: BreakdownRow[];
  failed: UnitResult[];
  badFiles: UnitResult[];
  ok: UnitResult[];
}

/** Splits rows into ok / failed / bad-file rows and computes every aggregate. */
export function aggregate(rows: UnitResult[], permutations = 200, seed = 0): Aggregates {
  const badFiles = rows.filter((r) => r.layer < 0);
  const units = rows.filter((r) => r.layer >= 0);
  const ok = units.filter((r) => r.status === 'ok');
  const failed = units.filter((r) => r.status !== 'ok');
  const diffs = (f: (r: UnitResult) => number) => quantiles(ok.map(f).filter(Number.isFinite));
  const modeCounts = new Map<string, number>();
  for (const r of ok) modeCounts.set(`${r.bestK},${r.nModes}`, (modeCounts.get(`${r.bestK},${r.nModes}`) ?? 0) + 1);
  return {
    summary: summarise(ok),
    margins: {
      gmmMinusK1: diffs((r) => r.llTestGmm - r.llTestK1),
      gmmMinusKde: diffs((r) => r.llTestGmm - r.llTestKde),
      tMinusGmm: diffs((r) => r.llTestT - r.llTestGmm),
    },
    kde: kdeControl(ok),
    rejecting: rejectingControls(ok),
    mixturesFitted: mixturesFitted(ok),
    modes: {
      medianModes: median(ok.map((r) => r.nModes)),
      pctFewerModesThanK: pct(ok, (r) => r.nModes < r.bestK),
      table: [...modeCounts.entries()].map(([k, count]) => {
        const [bestK, nModes] = k.split(',').map(Number) as [number, number];
        return { bestK, nModes, count };
      }).sort((a, b) => a.bestK - b.bestK || a.nModes - b.nModes),
    },
    stability: rankStability(ok, permutations, seed),
    byTask: breakdown(ok, (r) => r.task),
    byLayer: breakdown(ok, (r) => String(r.layer), true),
    byHead: breakdown(ok, (r) => String(r.head), true),
    failed,
    badFiles,
    ok,
  };
}

/** Headline rates of a set of ok rows. */
export function summarise(ok: UnitResult[]): Summary {
  return {
    units: ok.length,
    pctRejectK1: pct(ok, (r) => r.deltaBicK1 > REJECT_DELTA_BIC),
    medianBestK: median(ok.map((r) => r.bestK)),
    meanBestK: ok.reduce((s, r) => s + r.bestK, 0) / Math.max(ok.length, 1),
    pctKsPass: pct(ok, (r) => r.ksPass),
    pctGmmBeatsKde: pct(ok, (r) => r.llTestGmm > r.llTestKde),
    pctTBeatsGmmBic: pct(ok, (r) => r.bicT < r.bicBest),
    pctTBeatsGmmLl: pct(ok, (r) => r.llTestT > r.llTestGmm),
  };
}

function kdeControl(ok: UnitResult[]): Aggregates['kde'] {
  const rows = ok.filter((r) => Number.isFinite(r.llTestKde) && Number.isFinite(r.llTestK1) && Number.isFinite(r.llTestGmm));
  return { units: rows.length, pctK1BeatsKde: pct(rows, (r) => r.llTestK1 > r.llTestKde), pctGmmBeatsKde: pct(rows, (r) => r.llTestGmm > r.llTestKde) };
}

function rejectingControls(ok: UnitResult[]): RejectingControls {
  const rejecting = ok.filter((r) => r.deltaBicK1 > REJECT_DELTA_BIC);
  const controlled = rejecting.filter((r) => Number.isFinite(r.bicT) && Number.isFinite(r.bicBest) && Number.isFinite(r.nModes) && r.nModes >= 1);
  const tWins = (r: UnitResult) => r.bicT < r.bicBest;
  const explained = controlled.filter((r) => tWins(r) || r.nModes === 1).length;
  const heldOut = rejecting.filter((r) => Number.isFinite(r.llTestGmm) && Number.isFinite(r.llTestK1));
  return {
    units: rejecting.length,
    controlled: controlled.length,
    tBeatsGmmBic: controlled.filter(tWins).length,
    oneMode: controlled.filter((r) => r.nModes === 1).length,
    explained,
    multimodal: controlled.length - explained,
    withHeldOut: heldOut.length,
    gmmBeatsK1HeldOut: heldOut.filter((r) => r.llTestGmm > r.llTestK1).length,
    gmmMinusK1: quantiles(heldOut.map((r) => r.llTestGmm - r.llTestK1)),
  };
}

function mixturesFitted(ok: UnitResult[]): boolean | undefined {
  if (ok.some((r) => r.bestK > 1 || r.bicByK.length > 1)) return true;
  return ok.length > 0 && ok.every((r) => r.bicByK.length === 1) ? false : undefined;
}

function breakdown(ok: UnitResult[], key: (r: UnitResult) => string, numeric = false): BreakdownRow[] {
  const groups = new Map<string, UnitResult[]>();
  for (const r of ok) {
    const k = key(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const keys = [...groups.keys()].sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
  return keys.map((group) => ({ group, ...summarise(groups.get(group)!) }));
}

/**
 * Rank stability of K* across prompts. A shared depth trend (deeper layers need more
 * components in every prompt) would give a high rho by itself, so each rho is shown beside
 * its null: the same statistic after permuting units (heads) within each layer.
 */
export function rankStability(ok: UnitResult[], permutations: number, seed: number): Stability | undefined {
  const prompts = [...new Set(ok.map((r) => `${r.task}\u0000${r.promptIdx}`))].sort();
  if (prompts.length < 2) return undefined;
  const unitKeys = [...new Set(ok.map((r) => `${r.layer}\u0000${r.head}`))].sort();
  const unitIndex = new Map(unitKeys.map((k, i) => [k, i]));
  const layerOf = unitKeys.map((k) => Number(k.split('\u0000')[0]));
  // K*[prompt][unit], NaN where missing
  const kstar = prompts.map(() => new Float64Array(unitKeys.length).fill(NaN));
  const promptIndex = new Map(prompts.map((p, i) => [p, i]));
  for (const r of ok) kstar[promptIndex.get(`${r.task}\u0000${r.promptIdx}`)!]![unitIndex.get(`${r.layer}\u0000${r.head}`)!] = r.bestK;
  const taskOf = prompts.map((p) => p.split('\u0000')[0]!);

  const halves = [0, 1].map((h) => meanOver(kstar.filter((_, i) => i % 2 === h), unitKeys.length));
  const rng = createRng(seed);
  const permuteWithinLayer = (v: Float64Array): Float64Array => {
    const out = v.slice();
    const byLayer = new Map<number, number[]>();
    layerOf.forEach((l, i) => { const g = byLayer.get(l); if (g) g.push(i); else byLayer.set(l, [i]); });
    for (const idx of byLayer.values()) {
      const vals = idx.map((i) => v[i]!);
      for (let i = vals.length - 1; i > 0; i--) { const j = rng.int(i + 1); [vals[i], vals[j]] = [vals[j]!, vals[i]!]; }
      idx.forEach((i, t) => (out[i] = vals[t]!));
    }
    return out;
  };
  const splitHalfRho = rhoComplete(halves[0]!, halves[1]!);
  const nullRhos: number[] = [];
  for (let p = 0; p < permutations; p++) nullRhos.push(rhoComplete(halves[0]!, permuteWithinLayer(halves[1]!)));
  const finiteNull = nullRhos.filter(Number.isFinite);

  const pairRho = (within: boolean, permute: boolean): { rho: number; pairs: number } => {
    let s = 0, n = 0;
    for (let a = 0; a < prompts.length; a++) {
      for (let b = a + 1; b < prompts.length; b++) {
        if ((taskOf[a] === taskOf[b]) !== within) continue;
        const rho = rhoComplete(kstar[a]!, permute ? permuteWithinLayer(kstar[b]!) : kstar[b]!);
        if (Number.isFinite(rho)) { s += rho; n++; }
      }
    }
    return { rho: n > 0 ? s / n : NaN, pairs: n };
  };
  const nullRounds = Math.max(1, Math.min(20, permutations));
  const avgNull = (within: boolean) => {
    let s = 0;
    for (let i = 0; i < nullRounds; i++) s += pairRho(within, true).rho;
    return s / nullRounds;
  };
  const within = pairRho(true, false), across = pairRho(false, false);
  return {
    splitHalfRho,
    splitHalfNull: { ...quantiles(finiteNull), q95: quantile(finiteNull, 0.95) },
    withinTaskRho: within.rho,
    withinTaskNull: within.pairs > 0 ? avgNull(true) : NaN,
    acrossTaskRho: across.rho,
    acrossTaskNull: across.pairs > 0 ? avgNull(false) : NaN,
    pairsWithin: within.pairs,
    pairsAcross: across.pairs,
    permutations,
  };
}

function meanOver(rows: Float64Array[], n: number): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  for (let u = 0; u < n; u++) {
    let s = 0, c = 0;
    for (const r of rows) if (Number.isFinite(r[u]!)) { s += r[u]!; c++; }
    if (c > 0) out[u] = s / c;
  }
  return out;
}

/** Spearman over the positions where both are finite. */
function rhoComplete(a: Float64Array, b: Float64Array): number {
  const x: number[] = [], y: number[] = [];
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!) && Number.isFinite(b[i]!)) { x.push(a[i]!); y.push(b[i]!); }
  return x.length >= 3 ? spearman(x, y) : NaN;
}

/** Percentage of rows where `pred` holds (NaN for no rows). */
export function pct<T>(rows: T[], pred: (r: T) => boolean): number {
  return rows.length === 0 ? NaN : (100 * rows.filter(pred).length) / rows.length;
}

/** Median (mean of the two middle values for an even count). */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** Linear-interpolated quantile (numpy's default). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function quantiles(values: number[]): Quantiles {
  return { median: quantile(values, 0.5), q25: quantile(values, 0.25), q75: quantile(values, 0.75), n: values.length };
}
