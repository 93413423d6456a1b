import type { GmmParams, Matrix } from '../stats/types.js';
import { directionalPitTest, pitDirections } from '../stats/pit.js';
import { createKernels } from '../stats/kernels/index.js';
import { createRng, seedFrom, type SeededRng as Rng } from '../util/rng.js';

/**
 * The KS test's behaviour at the corpus's own sample size and dimension, on planted data:
 * the pass rate of a correct Gaussian fit (calibration) and the rejection rate of a Gaussian
 * fit to Student-t and to three-cluster data (power). The fits are the closed-form Gaussian
 * MLE, as EM's K=1 fit.
 */
export interface PowerRow {
  scenario: string;
  /** % of draws where the fit PASSES (calibration) or is REJECTED (power) at alpha */
  pct: number;
  kind: 'pass' | 'reject';
  draws: number;
}

/** What the table depends on, and nothing else (the cache key). */
export interface PowerParams {
  nTrain: number;
  nTest: number;
  d: number;
  alpha: number;
  draws: number;
  seed: number;
}

/**
 * Bumped whenever a change would alter the table for the same parameters (scenarios, random
 * stream, test): cached tables of another version are recomputed, never reused.
 * 2: each (scenario, draw) has its own seeded stream, so draws can run on any thread.
 */
export const KS_POWER_VERSION = 2;

/** The planted scenarios, in table order: a correct K=1 fit that should pass, then alternatives it should fail. */
const SCENARIOS: Array<{ scenario: string; kind: 'pass' | 'reject'; gen: (rng: Rng, out: Float64Array, d: number) => void }> = [
  { scenario: 'Gaussian data, K=1 fit (correct)', kind: 'pass', gen: (rng, out) => gaussian(rng, out) },
  { scenario: 'Student-t(5) data, K=1 fit', kind: 'reject', gen: (rng, out, d) => studentT(rng, out, d, 5) },
  { scenario: 'Student-t(10) data, K=1 fit', kind: 'reject', gen: (rng, out, d) => studentT(rng, out, d, 10) },
  { scenario: '3 clusters 8 sd apart, K=1 fit', kind: 'reject', gen: (rng, out, d) => clusters(rng, out, d, 8) },
  { scenario: '3 clusters 25 sd apart, K=1 fit', kind: 'reject', gen: (rng, out, d) => clusters(rng, out, d, 25) },
];

/** A slice of the simulation: draws [from, to) of one scenario (index into the table's rows). */
export interface PowerChunk {
  scenario: number;
  from: number;
  to: number;
}

/** The table's work cut into chunks of at most `size` draws (any order, any thread: each draw has its own seed). */
export function powerChunks(draws: number, size = 5): PowerChunk[] {
  const out: PowerChunk[] = [];
  size = Math.max(1, size);
  for (let scenario = 0; scenario < SCENARIOS.length; scenario++) {
    for (let from = 0; from < draws; from += size) out.push({ scenario, from, to: Math.min(draws, from + size) });
  }
  return out;
}

/**
 * Buffers of one draw, kept for the next chunk of the same size in this thread (a pool hands a
 * worker one draw at a time): the planted training and held-out rows and the centred training
 * rows, ~7.5 MB at 3276 / 820 / 128 that would otherwise be allocated (and collected) per draw.
 * A chunk takes them out while it runs, so chunks awaited side by side in one thread never share.
 */
interface DrawBuffers { nTrain: number; nTest: number; d: number; train: Float64Array; test: Float64Array; centred: Float64Array }
let spare: DrawBuffers | undefined;

function takeBuffers(nTrain: number, nTest: number, d: number): DrawBuffers {
  const b = spare;
  spare = undefined;
  if (b && b.nTrain === nTrain && b.nTest === nTest && b.d === d) return b;
  return { nTrain, nTest, d, train: new Float64Array(nTrain * d), test: new Float64Array(nTest * d), centred: new Float64Array(nTrain * d) };
}

/** The draws of one chunk: how many count as a hit (a pass for calibration, a rejection for power). */
export async function runPowerChunk(p: PowerParams, chunk: PowerChunk, threads?: number): Promise<number> {
  const { scenario, kind, gen } = SCENARIOS[chunk.scenario]!;
  const { nTrain, nTest, d } = p;
  let hits = 0;
  // every value of the buffers is written before it is read in each draw
  const buffers = takeBuffers(nTrain, nTest, d);
  const { train, test: testData, centred } = buffers;
  const test: Matrix = { data: testData, rows: nTest, cols: d };
  for (let r = chunk.from; r < chunk.to; r++) {
    const rng = createRng(seedFrom(p.seed, 'ks-power', scenario, r));
    gen(rng, train, d);
    gen(rng, testData, d);
    const { mean, cov } = await gaussianMle(train, centred, nTrain, d, threads);
    const fit: GmmParams = { k: 1, d, covariance: 'full', weights: Float64Array.of(1), means: mean, covariances: cov };
    const pValue = directionalPitTest(fit, test, nTrain, pitDirections(fit, 16, p.seed + r)).pValue;
    if ((pValue >= p.alpha) === (kind === 'pass')) hits++;
  }
  spare = buffers;
  return hits;
}

/**
 * The K=1 fit (maximum-likelihood mean and covariance) of the rows X [n, d]: the same
 * arithmetic in the same order as stats/scatter.ts's meanAndScatter (so the same bits), with
 * the centred rows in the caller's buffer. The n x d x d product is the costly step (JS took
 * ~80 ms a draw at 3276 x 128): Xc^T [X | 1] on float64 onnxruntime.
 */
async function gaussianMle(X: Float64Array, centred: Float64Array, n: number, d: number, threads?: number): Promise<{ mean: Float64Array; cov: Float64Array }> {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += X[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) centred[i * d + j] = X[i * d + j]! - mean[j]!;
  const cross = await createKernels(X, n, d, { precision: 'float64', threads }).weightedSums(centred, d);
  const cov = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) cov[a * d + b] = cov[b * d + a] = (0.5 * (cross[a * d + b]! + cross[b * d + a]!)) / n;
  }
  return { mean, cov };
}

/** The table's rows from the hits of every chunk of powerChunks(p.draws, ...). */
export function powerRows(p: PowerParams, chunks: PowerChunk[], hits: number[]): PowerRow[] {
  const byScenario = new Array<number>(SCENARIOS.length).fill(0);
  chunks.forEach((c, i) => { byScenario[c.scenario]! += hits[i]!; });
  return SCENARIOS.map(({ scenario, kind }, i) => ({ scenario, kind, pct: (100 * byScenario[i]!) / p.draws, draws: p.draws }));
}

/** Runs `draws` draws of each planted scenario at n_train / n_test / d in this thread (threads: onnxruntime threads for the covariances). */
export async function ksPowerTable(nTrain: number, nTest: number, d: number, alpha: number, draws: number, seed = 0, threads?: number): Promise<PowerRow[]> {
  const p: PowerParams = { nTrain, nTest, d, alpha, draws, seed };
  const chunks = powerChunks(draws, draws);
  const hits: number[] = [];
  for (const c of chunks) hits.push(await runPowerChunk(p, c, threads));
  return powerRows(p, chunks, hits);
}

/** Standard normal rows into `out`. */
function gaussian(rng: Rng, out: Float64Array): void {
  rng.fillNormal(out);
}

/** Multivariate Student-t rows (identity scale) into `out`: normal rows, each scaled by sqrt(dof / chi2_dof). */
function studentT(rng: Rng, out: Float64Array, d: number, dof: number): void {
  gaussian(rng, out);
  const n = out.length / d;
  for (let i = 0; i < n; i++) {
    let chi2 = 0;
    for (let t = 0; t < dof; t++) { const g = rng.normal(); chi2 += g * g; }
    const s = Math.sqrt(dof / chi2);
    for (let j = 0; j < d; j++) out[i * d + j]! *= s;
  }
}

/** Three equal clusters with identity covariance, means -sep, 0, +sep (in sd) along the diagonal direction, into `out`. */
function clusters(rng: Rng, out: Float64Array, d: number, sep: number): void {
  gaussian(rng, out);
  const n = out.length / d;
  const step = sep / Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    const c = rng.int(3) - 1;
    for (let j = 0; j < d; j++) out[i * d + j]! += c * step;
  }
}
