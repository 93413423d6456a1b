import type { GmmParams } from './types.js';
import { backSolve, forwardSolve, logDetFromCholesky } from './small-linalg.js';
import { choleskyWasm as cholesky, precisionCholeskyWasm } from './wasm/linalg.js';

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
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      if (find(a) === find(b)) continue;
      if (pairIsUnimodal(comps[a]!, comps[b]!, params.weights[a]!, params.weights[b]!, d, gridPoints)) parent[find(a)] = find(b);
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
  const precision = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let m = i; m < d; m++) s += U[i * d + m]! * U[j * d + m]!;
      precision[i * d + j] = s;
      precision[j * d + i] = s;
    }
  }
  const mean = p.means.slice(c * d, (c + 1) * d);
  const precisionMean = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += precision[i * d + j]! * mean[j]!;
    precisionMean[i] = s;
  }
  return { mean, precision, precisionMean, cholCov: L, logDet: logDetFromCholesky(L, d) };
}

function pairIsUnimodal(A: Piece, B: Piece, wa: number, wb: number, d: number, gridPoints: number): boolean {
  const la = Math.log(wa / (wa + wb)), lb = Math.log(wb / (wa + wb));
  const M = new Float64Array(d * d), rhs = new Float64Array(d), y = new Float64Array(d), x = new Float64Array(d);
  const at = (a: number): number => {
    if (a === 0 || a === 1) {
      const mean = a === 0 ? A.mean : B.mean; // the ridgeline's ends are the two means: no solve needed
      return logAddExp(la + logNormal(mean, A, d), lb + logNormal(mean, B, d));
    }
    for (let i = 0; i < d * d; i++) M[i] = (1 - a) * A.precision[i]! + a * B.precision[i]!;
    for (let i = 0; i < d; i++) rhs[i] = (1 - a) * A.precisionMean[i]! + a * B.precisionMean[i]!;
    const L = cholesky(M, d);
    if (!L) return NaN;
    forwardSolve(L, d, rhs, y);
    backSolve(L, d, y, x);
    return logAddExp(la + logNormal(x, A, d), lb + logNormal(x, B, d));
  };
  // most pairs of a fitted mixture are far apart: a midpoint below both ends settles it with one solve
  const ends = [at(0), at(1)];
  if (at(0.5) < Math.min(ends[0]!, ends[1]!)) return false;
  const logDensity: number[] = [];
  for (let g = 0; g <= gridPoints; g++) {
    const v = at(g / gridPoints);
    if (Number.isNaN(v)) return false;
    logDensity.push(v);
  }
  let maxima = 0;
  for (let g = 0; g < logDensity.length; g++) {
    const left = g === 0 ? -Infinity : logDensity[g - 1]!;
    const right = g === logDensity.length - 1 ? -Infinity : logDensity[g + 1]!;
    if (logDensity[g]! > left && logDensity[g]! >= right) maxima++;
  }
  return maxima <= 1;
}

function logNormal(x: Float64Array, P: Piece, d: number): number {
  const diff = new Float64Array(d), z = new Float64Array(d);
  for (let j = 0; j < d; j++) diff[j] = x[j]! - P.mean[j]!;
  forwardSolve(P.cholCov, d, diff, z);
  let q = 0;
  for (let j = 0; j < d; j++) q += z[j]! * z[j]!;
  return -0.5 * (d * Math.log(2 * Math.PI) + P.logDet + q);
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}
