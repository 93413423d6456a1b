import type { KernelOptions } from '../stats/kernels/index.js';
import { meanAndCovariance } from '../stats/small-linalg.js';
import { spearman } from '../stats/spearman.js';
import { seedFrom } from '../util/rng.js';
import type { UnitKey } from '../analyze/unit.js';
import type { GmmParams } from '../stats/types.js';
import { groupAttention, keptMassAt, logMassRatio, recallAt } from './metrics.js';
import { fitGroupMixture, type GroupMixture } from './group-mixture.js';
import { averageRotation, rotateRows, rotateRowsToPositions, rotationAt, type Rotation } from './rope.js';
import { gaussianLogScores, meanExpLogScores, mixtureLogScores, rotateKeys, type KeyRows, type RotatedKeys } from './scores.js';
import { simulatePress, type PressResult } from './press.js';
import { pressSinks } from './press-scorers.js';

/**
 * One fidelity unit (a kv head's group of query heads in one prompt and layer): split the
 * sampled positions in time, compute the true mean attention of the future queries to the
 * seen keys, score the ranking predictions from the seen queries against it and, with the
 * values, simulate the presses (press.ts) on the seen keys as the cache.
 */

/**
 * gaussian (kvpress) and mixture use the rotation averaged over the future positions; the
 * `_perpos` variants average the closed form over the per-position rotations instead (the
 * exact expectation under that query model), separating the shape of the query
 * distribution from kvpress's rotation averaging; empirical uses the seen queries themselves.
 */
/** Status prefix of a unit whose mixture could not be fitted (its other predictions stand). */
export const MIXTURE_FAILED = 'mixture failed: ';

export const METHODS = ['gaussian', 'mixture', 'empirical', 'gaussian_perpos', 'mixture_perpos'] as const;
export type Method = (typeof METHODS)[number];

export interface FidelitySettings {
  /** latest fraction of the sampled positions whose queries are the future */
  future: number;
  /** keep fractions for recall and kept mass */
  keep: number[];
  /** compression ratios (fraction of keys removed) of the press simulation; empty: ranking only */
  ratios: number[];
  kMax: number;
  seed: number;
  /** RoPE inverse frequencies [d/2] of the model (llama3 scaling included) */
  invFreq: Float64Array;
  /** future positions (evenly spaced) that empirical and the _perpos closed forms rotate to; default 32 */
  empiricalPositions?: number;
  kernel?: KernelOptions;
  /** keep each press's kept indices in the result (tests; large for a real corpus) */
  pressKeptSets?: boolean;
}

export interface FidelityUnitInput {
  key: UnitKey;
  /** pre-RoPE queries of the group's query heads [groupSize, T, d] */
  queries: Float32Array;
  groupSize: number;
  /** post-RoPE keys of this kv head [T, d] at the same positions */
  keys: Float32Array;
  /** values (v_proj, no RoPE) of this kv head [T, d]; with them (and ratios) the press is simulated */
  values?: Float32Array;
  /** sampled positions [T], ascending */
  positions: Int32Array;
  headDim: number;
}

export interface FidelityResult extends UnitKey {
  nSeen: number;
  nFuture: number;
  /** tokens from the first to the last future position (kvpress averages its rotation over the next 512) */
  futureSpan: number;
  /** BIC-best K of the pooled group's seen queries (as poc analyze fits a unit) */
  bestK: number;
  rho: Record<Method, number>;
  /** [keep fraction index] */
  recall: Record<Method, number[]>;
  keptMass: Record<Method, number[]>;
  /** true attention mass of the true top keys: the best any prediction can keep */
  oracleMass: number[];
  /** ln(predicted total / true total), mean over heads */
  logMass: Record<Method, number>;
  /** the press simulation (when values and ratios were given; NaN where it failed) */
  press?: PressResult;
  seconds: number;
  /** where the seconds went: the mixture sweep, the ranking predictions, the press (not in the csv) */
  phaseSeconds?: { mixture: number; ranking: number; press: number };
  status: string;
}

/** Scores the predictions on one unit; what cannot be computed is NaN, with the reason in status. */
export async function fidelityUnit(input: FidelityUnitInput, settings: FidelitySettings): Promise<FidelityResult> {
  const started = performance.now();
  const { positions, headDim: d, groupSize } = input;
  const T = positions.length;
  const nFuture = Math.max(1, Math.round(settings.future * T));
  const nSeen = T - nFuture;
  const base = emptyResult(input.key, nSeen, nFuture, settings.keep.length);
  if (nSeen >= 0 && T > 0) base.futureSpan = positions[T - 1]! - positions[Math.max(nSeen, 0)]!;
  try {
    if (nSeen < 2) throw new Error(`only ${nSeen} seen position(s)`);
    const keys: KeyRows = { data: Float64Array.from(input.keys.subarray(0, nSeen * d)), n: nSeen, d };
    const futurePositions = positions.subarray(nSeen);
    const meanRotation = averageRotation(settings.invFreq, futurePositions);
    const perPosition = evenlySpaced(futurePositions, settings.empiricalPositions ?? 32).map((p) => rotationAt(settings.invFreq, p));
    const perHead: Record<Method | 'truth', Float64Array[]> = { truth: [], gaussian: [], mixture: [], empirical: [], gaussian_perpos: [], mixture_perpos: [] };
    const seenPerHead: Float64Array[] = [];
    for (let h = 0; h < groupSize; h++) seenPerHead.push(Float64Array.from(input.queries.subarray(h * T * d, h * T * d + nSeen * d)));
    const pressed = input.values !== undefined && settings.ratios.length > 0;
    // data the mixture engine refuses (a constant dimension, too few distinct rows) still has the other predictions
    let mixture: GroupMixture | undefined;
    let mixtureError = '';
    const unitSeed = seedFrom(settings.seed, input.key.task, input.key.promptIdx, input.key.layer, input.key.head);
    try {
      mixture = await fitGroupMixture(seenPerHead, nSeen, d, settings.kMax, unitSeed, settings.kernel, pressed ? pressSinks(nSeen) : undefined);
    } catch (err) {
      mixtureError = (err as Error).message.split('\n')[0]!;
    }
    const fitted = performance.now();
    const context: HeadContext = {
      keys, futurePositions, perPosition, settings,
      meanRotated: rotateKeys([meanRotation], keys, settings.kernel), perPositionRotated: rotateKeys(perPosition, keys, settings.kernel),
    };
    // every future query of the group at its own position [groupSize * nFuture, d]
    const futureRotated = new Float64Array(groupSize * nFuture * d);
    for (let h = 0; h < groupSize; h++) {
      const future = input.queries.subarray(h * T * d + nSeen * d, (h + 1) * T * d);
      const rotated = rotateRowsToPositions(future, futurePositions, settings.invFreq);
      futureRotated.set(rotated, h * nFuture * d);
      const scores = await headLogScores(seenPerHead[h]!, rotated, mixture?.perHead[h], context);
      for (const [name, s] of Object.entries(scores) as Array<[Method | 'truth', Float64Array]>) perHead[name].push(s);
    }
    const truth = groupAttention(perHead.truth);
    const result: FidelityResult = { ...base, bestK: mixture?.bestK ?? 0, status: mixture ? 'ok' : `${MIXTURE_FAILED}${mixtureError}` };
    result.oracleMass = settings.keep.map((f) => keptMassAt(truth, truth, f));
    for (const m of METHODS) {
      if (perHead[m].length === 0) continue;
      const predicted = groupAttention(perHead[m]);
      result.rho[m] = spearman(truth, predicted);
      result.recall[m] = settings.keep.map((f) => recallAt(truth, predicted, f));
      result.keptMass[m] = settings.keep.map((f) => keptMassAt(truth, predicted, f));
      result.logMass[m] = logMassRatio(perHead[m], perHead.truth);
    }
    const ranked = performance.now();
    if (pressed) {
      result.press = await simulatePress({
        keys, values: Float64Array.from(input.values!.subarray(0, nSeen * d)), seenPerHead, futureRotated, nFutureQueries: groupSize * nFuture,
        cachePositions: positions.subarray(0, nSeen), mixturePerHead: mixture?.perHeadFrom, bestK: mixture?.bestK ?? 0, invFreq: settings.invFreq,
        ratios: settings.ratios, seed: seedFrom(unitSeed, 'random press'), kernel: settings.kernel, returnKeptSets: settings.pressKeptSets,
      });
    }
    const now = performance.now();
    result.seconds = (now - started) / 1000;
    result.phaseSeconds = { mixture: (fitted - started) / 1000, ranking: (ranked - fitted) / 1000, press: (now - ranked) / 1000 };
    return result;
  } catch (err) {
    return { ...base, status: `failed: ${(err as Error).message.split('\n')[0]}`, seconds: (performance.now() - started) / 1000 };
  }
}

interface HeadContext {
  keys: KeyRows;
  futurePositions: Int32Array;
  /** the keys moved by the averaged rotation, and by each per-position one (shared by the group's heads) */
  meanRotated: RotatedKeys;
  perPositionRotated: RotatedKeys;
  perPosition: Rotation[];
  settings: FidelitySettings;
}

/** Log scores over the keys of one query head (future queries already at their positions): the truth and every prediction (the mixture ones only with a mixture). */
async function headLogScores(seen: Float64Array, futureRotated: Float64Array, mixture: GmmParams | undefined, c: HeadContext): Promise<Partial<Record<Method | 'truth', Float64Array>>> {
  const { keys, settings, perPosition } = c;
  const nSeen = seen.length / keys.d;
  const out: Partial<Record<Method | 'truth', Float64Array>> = {};
  out.truth = await meanExpLogScores(futureRotated, c.futurePositions.length, keys, settings.kernel);
  // kvpress: biased (divide by n) moments of the pre-RoPE queries, then the averaged rotation
  const { mean, cov } = meanAndCovariance(seen, nSeen, keys.d, 0);
  out.gaussian = await gaussianLogScores(mean, cov, c.meanRotated, keys);
  out.gaussian_perpos = await gaussianLogScores(mean, cov, c.perPositionRotated, keys);
  if (mixture) {
    out.mixture = await mixtureLogScores(mixture, c.meanRotated, keys);
    out.mixture_perpos = await mixtureLogScores(mixture, c.perPositionRotated, keys);
  }
  const rotated = new Float64Array(perPosition.length * seen.length);
  perPosition.forEach((r, i) => rotated.set(rotateRows(r, seen, nSeen), i * seen.length));
  out.empirical = await meanExpLogScores(rotated, perPosition.length * nSeen, keys, settings.kernel);
  return out;
}

/** Up to `count` values of `values` at evenly spaced indices (all of them when there are fewer). */
function evenlySpaced(values: Int32Array, count: number): number[] {
  if (values.length <= count) return Array.from(values);
  return Array.from({ length: count }, (_, i) => values[Math.floor(((i + 0.5) * values.length) / count)]!);
}

function emptyResult(key: UnitKey, nSeen: number, nFuture: number, nKeep: number): FidelityResult {
  const perMethod = <T>(make: () => T): Record<Method, T> => Object.fromEntries(METHODS.map((m) => [m, make()])) as Record<Method, T>;
  const nans = () => new Array<number>(nKeep).fill(NaN);
  return {
    ...key, nSeen, nFuture, futureSpan: NaN, bestK: 0, rho: perMethod(() => NaN), recall: perMethod(nans), keptMass: perMethod(nans),
    oracleMass: nans(), logMass: perMethod(() => NaN), seconds: 0, status: 'ok',
  };
}
