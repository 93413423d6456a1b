import type { GmmParams } from './types.js';
import { forwardSolve, logDetFromCholesky } from './small-linalg.js';
import { choleskyWasm as cholesky, precisionCholeskyWasm, ridgelineWasm } from './wasm/linalg.js';

/**
 * Number of modes of a fitted Gaussian mixture, so "K components" and "K modes" are told
 * apart: components i and j are merged when their two-component sub-mixture (weights
 * renormalised) is unimodal along its ridgeline x(a) = [(1-a)P_i + a P_j]^-1 [(1-a)P_i mu_i + a P_j mu_j]
 * (P = Sigma^-1), which holds every critical point of that sub-mixture (Ray & Lindsay 2005);
 * merges are transitive (union-find). Pairwise, so a mode shared by three overlapping
 * components that no pair shows is not seen: a documented approximation.
 */

/** Modes of a mixture and which components share each. */
export interface ModeCount {
  nModes: number;
  /** [k] mode group of each component, 0..nModes-1 in order of first appearance */
  group: Int32Array;
}

/** Counts modes by pairwise ridgeline merging; `gridPoints` samples of a in [0, 1] per pair. */
export function countModes(params: GmmParams, gridPoints = 24): ModeCount {
  const { k, d } = params;
  const parent = Int32Array.from({ length: k }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const comps = Array.from({ length: k }, (_, c) => componentPieces(params, c));
  const work = workspace(d);
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      if (find(a) === find(b)) continue;
      if (pairIsUnimodal(comps[a]!, comps[b]!, params.weights[a]!, params.weights[b]!, d, gridPoints, work)) parent[find(a)] = find(b);
    }
  }
  const group = new Int32Array(k);
  const ids = new Map<number, number>();
  for (let c = 0; c < k; c++) {
    const root = find(c);
    if (!ids.has(root)) ids.set(root, ids.size);
    group[c] = ids.get(root)!;
  }
  return { nModes: ids.size, group };
}

interface Piece {
  mean: Float64Array;
  precision: Float64Array; // [d, d]
  precisionMean: Float64Array; // P mu
  cholCov: Float64Array; // lower L, L L^T = Sigma
  logDet: number;
}

function componentPieces(p: GmmParams, c: number): Piece {
  const d = p.d;
  const cov = new Float64Array(d * d);
  if (p.covariance === 'full') cov.set(p.covariances.subarray(c * d * d, (c + 1) * d * d));
  else for (let j = 0; j < d; j++) cov[j * d + j] = p.covariances[c * d + j]!;
  const L = cholesky(cov, d);
  if (!L) throw new Error(`component ${c} has a singular covariance`);
  // Sigma^-1 = U U^T with U = L^-T upper triangular (the engine's precision factor, WebAssembly)
  const U = precisionCholeskyWasm(cov, d)?.U;
  if (!U) throw new Error(`component ${c} has a singular covariance`);
  const precision = precisionFromFactor(U, d);
  const mean = p.means.slice(c * d, (c + 1) * d);
  const precisionMean = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += precision[i * d + j]! * mean[j]!;
    precisionMean[i] = s;
  }
  return { mean, precision, precisionMean, cholCov: L, logDet: logDetFromCholesky(L, d) };
}

/**
 * P = U U^T for the upper triangular U: P[i][j] = sum_{m >= i} U[i][m] U[j][m] (j <= i), each
 * sum from 0 in increasing m. Four j at a time share the loads of row i; every entry still
 * adds the same terms in the same order, so P has the bits of the one-entry-at-a-time loop.
 */
export function precisionFromFactor(U: Float64Array, d: number): Float64Array {
  const P = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    let j = 0;
    for (; j + 3 <= i; j += 4) {
      const r0 = j * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let m = i; m < d; m++) {
        const u = U[ri + m]!;
        s0 += u * U[r0 + m]!;
        s1 += u * U[r1 + m]!;
        s2 += u * U[r2 + m]!;
        s3 += u * U[r3 + m]!;
      }
      P[ri + j] = s0; P[j * d + i] = s0;
      P[ri + j + 1] = s1; P[(j + 1) * d + i] = s1;
      P[ri + j + 2] = s2; P[(j + 2) * d + i] = s2;
      P[ri + j + 3] = s3; P[(j + 3) * d + i] = s3;
    }
    for (; j <= i; j++) {
      const rj = j * d;
      let s = 0;
      for (let m = i; m < d; m++) s += U[ri + m]! * U[rj + m]!;
      P[ri + j] = s;
      P[rj + i] = s;
    }
  }
  return P;
}

/**
 * Whether the pair's log density on the grid a = g / gridPoints (g = 0..gridPoints) of the
 * ridgeline has at most one local maximum (g is one when its value is > the left neighbour's
 * and >= the right one's, -Infinity beyond the ends); false when a solve fails.
 *
 * Each grid value is computed at most once and depends on a alone, so the order of evaluation
 * does not change any value. At most one maximum <=> the first maximum of a scan from the left
 * is the last maximum of a scan from the right; the left scan reads values 0..p+1 and the right
 * one q-1..gridPoints, so a pair with two maxima near the ends (most separated pairs) is
 * settled after a few solves, and a single maximum has read every value. That is the decision
 * of counting maxima over all the values, which is what the grid asks.
 */
function pairIsUnimodal(A: Piece, B: Piece, wa: number, wb: number, d: number, gridPoints: number, work: Workspace): boolean {
  const la = Math.log(wa / (wa + wb)), lb = Math.log(wb / (wa + wb));
  let loaded = false;
  const q = work.q;
  const at = (a: number): number => {
    if (a === 0 || a === 1) {
      const mean = a === 0 ? A.mean : B.mean; // the ridgeline's ends are the two means: no solve needed
      return logAddExp(la + logNormal(mean, A, d, work), lb + logNormal(mean, B, d, work));
    }
    // x(a) = [(1-a) P_A + a P_B]^-1 [(1-a) P_A mu_A + a P_B mu_B] by Cholesky, and its
    // distances to both means, in WebAssembly (the bits of the same steps in JS)
    if (!loaded) { work.ridge.load(A, B); loaded = true; }
    if (!work.ridge.point(a, q)) return NaN;
    return logAddExp(la + logNormalAt(q[0]!, A, d), lb + logNormalAt(q[1]!, B, d));
  };
  const n = gridPoints + 1;
  const values = new Float64Array(n);
  const known = new Uint8Array(n);
  const value = (g: number): number => {
    if (!known[g]) {
      values[g] = at(g / gridPoints);
      known[g] = 1;
    }
    return values[g]!;
  };
  // most pairs of a fitted mixture are far apart: a midpoint below both ends settles it with one solve
  const low = Math.min(value(0), value(gridPoints));
  const mid = gridPoints % 2 === 0 ? value(gridPoints / 2) : at(0.5);
  if (mid < low) return false;
  // a failed solve anywhere on the grid means "not unimodal"; every path below that can
  // answer true has read the whole grid, and false needs no further values
  const isMax = (g: number): boolean | undefined => {
    const v = value(g);
    if (Number.isNaN(v)) return undefined;
    const left = g === 0 ? -Infinity : value(g - 1);
    const right = g === n - 1 ? -Infinity : value(g + 1);
    if (Number.isNaN(left) || Number.isNaN(right)) return undefined;
    return v > left && v >= right;
  };
  let first = -1;
  for (let g = 0; g < n; g++) {
    const m = isMax(g);
    if (m === undefined) return false;
    if (m) { first = g; break; }
  }
  if (first < 0) return false; // no maximum among finite values: impossible, but not unimodal
  for (let g = n - 1; g >= first; g--) {
    const m = isMax(g);
    if (m === undefined) return false;
    if (m) return g === first;
  }
  return false;
}

/** Buffers reused by every grid point of every pair of one countModes call. */
interface Workspace {
  ridge: ReturnType<typeof ridgelineWasm>;
  /** the squared distances of one ridgeline point to the pair's means */
  q: Float64Array;
  diff: Float64Array;
  z: Float64Array;
}

function workspace(d: number): Workspace {
  return { ridge: ridgelineWasm(d), q: new Float64Array(2), diff: new Float64Array(d), z: new Float64Array(d) };
}

function logNormal(x: Float64Array, P: Piece, d: number, work: Workspace): number {
  const { diff, z } = work;
  for (let j = 0; j < d; j++) diff[j] = x[j]! - P.mean[j]!;
  forwardSolve(P.cholCov, d, diff, z);
  let q = 0;
  for (let j = 0; j < d; j++) q += z[j]! * z[j]!;
  return logNormalAt(q, P, d);
}

/** log N(x; mu, Sigma) from the squared Mahalanobis distance q of x. */
function logNormalAt(q: number, P: Piece, d: number): number {
  return -0.5 * (d * Math.log(2 * Math.PI) + P.logDet + q);
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}
