/**
 * The kernels as small onnxruntime graphs (MatMul on MLAS, multi-threaded), built once per
 * (graph, d, precision, threads, providers) and reused for every unit. Only the products run
 * here; the d x d factorisations and the log-sum-exp stay in float64 JS. Swapping the
 * execution provider (e.g. 'cuda') runs the same graphs on a GPU.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { createGraph, type ElemType } from './onnx-graph.js';
import type { DataKernels, KernelOptions } from './types.js';
import { kernelSession, type SessionCache } from './session-cache.js';

type GraphKind = 'mahalanobis' | 'whiten' | 'moments' | 'scatter1' | 'crossdot' | 'lsedot' | 'gausslogit' | 'kmeans' | 'sums';

/**
 * A responsibility at or below this adds nothing the float32 products could hold: the sparse
 * M-step leaves such rows out of a component's scatter (n * 1e-12 effective points at most).
 */
const NEGLIGIBLE_RESPONSIBILITY = 1e-12;
/**
 * The sparse M-step (rows gathered per component, full d x d products) runs when the active
 * (row, component) pairs are at most this share of n k; the blocked dense products skip 3/8
 * of the work, and gathering has its own cost. In d = 128 a row is active in 1-1.5 components.
 */
const SPARSE_SHARE = 0.4;

/**
 * Column blocks of the triangular products. x U_k with U_k upper triangular only needs the
 * first e columns of x for output columns below e, and a scatter matrix only needs its lower
 * triangle: with B blocks the products skip (B - 1) / 2B of the multiply-adds. Measured on
 * this 2-core machine (1 thread, 4096 x 128, K = 3..10) against the single full-width
 * products: the E-step 1.7-2.3x faster with 4 blocks and 7-11 % faster again with 8; the
 * M-step (whose blocks also carry an element-wise pass each) 1.3-1.5x with 4, no better with 8.
 */
export const E_BLOCKS = 8;
export const M_BLOCKS = 4;

/** Block boundaries 0 = c_0 < c_1 < ... < c_B = d (B = min(blocks, d)). */
export function columnBlocks(d: number, blocks: number): number[] {
  const B = Math.min(blocks, d);
  return Array.from({ length: B + 1 }, (_, b) => Math.round((b * d) / B));
}

const sessions: SessionCache = new Map();

/**
 * Graphs over Xa = [X | 1] ([n, d+1]) or its column blocks: whitening folds the offset into
 * the product, Z = Xa [W; -b] = X W - b, which saves a pass over the [n, k*d] result.
 */
function buildGraph(kind: GraphKind, d: number, elem: ElemType): Uint8Array {
  const g = createGraph(`stats_${kind}`);
  if (kind === 'mahalanobis') {
    const cuts = columnBlocks(d, E_BLOCKS);
    const B = cuts.length - 1;
    // block b: [x_{<c_b+1} | 1] times the columns c_b..c_b+1 of every [U_k; -b_k] (rows below
    // c_b+1 of those columns are zero), summed over blocks of |.|^2
    let sq = '';
    for (let b = 0; b < B; b++) {
      const width = cuts[b + 1] - cuts[b];
      const Xp = g.input(`Xp${b}`, elem, ['n', cuts[b + 1] + 1]);
      const Wb = g.input(`W${b}`, elem, [cuts[b + 1] + 1, `m${b}`]);
      const part = g.node('ReduceSumSquare', [g.node('Reshape', [g.node('MatMul', [Xp, Wb]), g.ints([0, -1, width])])], { axes: [2], keepdims: 0 });
      sq = sq ? g.node('Add', [sq, part]) : part;
    }
    g.output(sq, elem, ['n', 'k']);
  } else if (kind === 'whiten') {
    const Xa = g.input('Xa', elem, ['n', d + 1]);
    const Wa = g.input('Wa', elem, [d + 1, 'm']);
    g.output(g.node('MatMul', [Xa, Wa]), elem, ['n', 'm']);
  } else if (kind === 'scatter1') {
    // one component's rows G [m, d+1], gathered here from Xa = [X | 1] by their indices idx
    // [m], with their responsibilities r [m, 1] about its centre mu [1, d+1] (last entry 1,
    // so the ones column centres to exact zeros): G^T (r (*) (G - mu)), whose leading d x d
    // block is the scatter about mu (up to the centre correction). Gathering inside
    // onnxruntime spares JS a typed-array copy per row, and gathering from Xa (which the
    // E-step reads anyway) keeps a second copy of X out of the cache.
    const Xa = g.input('Xa', elem, ['n', d + 1]);
    const idx = g.input('idx', 'int32', ['m']);
    const G = g.node('Gather', [Xa, idx], { axis: 0 });
    const r = g.input('r', elem, ['m', 1]);
    const mu = g.input('mu', elem, [1, d + 1]);
    const RX = g.node('Mul', [r, g.node('Sub', [G, mu])]);
    g.output(g.node('MatMul', [g.node('Transpose', [G], { perm: [1, 0] }), RX]), elem, [d + 1, d + 1]);
  } else if (kind === 'moments') {
    const cuts = columnBlocks(d, M_BLOCKS);
    const B = cuts.length - 1;
    // block b of every scatter's columns, rows c_b..d only (the lower triangle), as
    // x_{>=c_b}^T (R (*) (x_b - mu_b)): centring the right factor on each component's mean
    // keeps float32 from losing (|mu|/sd)^2 ulps to the cancellation in sum r x x^T - N mu mu^T
    const R = g.input('R', elem, ['n', 'k']);
    const Ru = g.node('Unsqueeze', [R, g.ints([2])]); // [n, k, 1]
    const Mu = g.input('Mu', elem, ['k', d]);
    for (let b = 0; b < B; b++) {
      const Xb = g.input(`Xb${b}`, elem, ['n', cuts[b + 1] - cuts[b]]);
      const Xt = g.input(`Xt${b}`, elem, [d - cuts[b], 'n']);
      const mub = g.node('Slice', [Mu, g.ints([cuts[b]]), g.ints([cuts[b + 1]]), g.ints([1])]); // [k, w]
      const centred = g.node('Sub', [g.node('Unsqueeze', [Xb, g.ints([1])]), mub]); // [n, k, w]
      const RX = g.node('Reshape', [g.node('Mul', [Ru, centred]), g.ints([0, -1])]); // [n, k*w]
      g.output(g.node('MatMul', [Xt, RX]), elem, [d - cuts[b], `m${b}`]);
    }
  } else {
    const Xa = g.input('Xa', elem, ['n', d + 1]);
    if (kind === 'kmeans') {
    // Ct = [C^T; -|c|^2/2]: score = x.c - |c|^2/2, the nearest centre has the largest score
    const Ct = g.input('Ct', elem, [d + 1, 'k']);
    const score = g.node('MatMul', [Xa, Ct]); // [n, k]
    const labels = g.node('ArgMax', [score], { axis: 1, keepdims: 0 }); // int64 [n]
    const best = g.node('ReduceMax', [score], { axes: [1], keepdims: 0 }); // [n]
    const depth = g.node('Slice', [g.node('Shape', [Ct]), g.ints([1]), g.ints([2])]);
    // onnxruntime's CPU OneHot has no double output: build it in float32 and cast
    const offOn = g.node('Concat', [g.node('Reshape', [g.scalar(0, 'float32'), g.ints([1])]), g.node('Reshape', [g.scalar(1, 'float32'), g.ints([1])])], { axis: 0 });
    const onehot32 = g.node('OneHot', [labels, depth, offOn], { axis: -1 }); // [n, k]
    const onehot = elem === 'float32' ? onehot32 : g.node('Cast', [onehot32], { to: 11 /* DOUBLE */ });
    // the ones column of Xa turns the last output column into the counts
    const sums = g.node('MatMul', [g.node('Transpose', [onehot], { perm: [1, 0] }), Xa]); // [k, d+1]
    // int32 labels: reading an int64 tensor in JS makes a BigInt per row
    g.output(g.node('Cast', [labels], { to: 6 /* INT32 */ }), 'int32', ['n']);
    g.output(best, elem, ['n']);
    g.output(sums, elem, ['k', d + 1]);
  } else if (kind === 'lsedot') {
    // the [n, k] products stay inside onnxruntime: only their log-sum-exp per row comes out
    const Ct = g.input('Ct', elem, [d + 1, 'k']);
    const scale = g.input('scale', elem, [1]);
    g.output(g.node('ReduceLogSumExp', [g.node('Mul', [g.node('MatMul', [Xa, Ct]), scale])], { axes: [1], keepdims: 0 }), elem, ['n']);
  } else if (kind === 'gausslogit') {
    // [Xa W] as [n, k, d] times x per component, summed over d: the quadratic forms; only [n, k] comes out
    const W = g.input('W', elem, [d + 1, 'kd']);
    const Mu = g.input('Mu', elem, [d + 1, 'k']);
    const scales = g.input('scales', elem, [2]);
    const X3 = g.node('Reshape', [g.node('Slice', [Xa, g.ints([0]), g.ints([d]), g.ints([1])]), g.ints([0, 1, d])]);
    const quad = g.node('ReduceSum', [g.node('Mul', [g.node('Reshape', [g.node('MatMul', [Xa, W]), g.ints([0, -1, d])]), X3]), g.ints([2])], { keepdims: 0 });
    const lin = g.node('MatMul', [Xa, Mu]);
    const ls = g.node('Slice', [scales, g.ints([0]), g.ints([1])]);
    const qs = g.node('Slice', [scales, g.ints([1]), g.ints([2])]);
    g.output(g.node('Add', [g.node('Mul', [lin, ls]), g.node('Mul', [quad, qs])]), elem, ['n', 'k']);
  } else if (kind === 'sums') {
    const R = g.input('R', elem, ['n', 'k']);
    g.output(g.node('MatMul', [g.node('Transpose', [R], { perm: [1, 0] }), Xa]), elem, ['k', d + 1]);
  } else {
    const Ct = g.input('Ct', elem, [d + 1, 'k']);
    g.output(g.node('MatMul', [Xa, Ct]), elem, ['n', 'k']);
  }
  }
  return g.toBytes();
}


function toElem(a: Float64Array, elem: ElemType): Float32Array | Float64Array {
  return elem === 'float32' ? Float32Array.from(a) : a;
}

function toF64(a: ort.Tensor['data']): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a as Float32Array);
}

/**
 * Columns from..from+width of every row of src (row length srcCols) into dst (row length
 * width, or width + 1 with a trailing 1): one native typed-array copy per row, which also
 * converts float64 to float32 (element loops over the two array types ran ~10x slower).
 */
function copyColumns(src: Float32Array | Float64Array, srcCols: number, from: number, width: number, dst: Float32Array | Float64Array, ones: boolean): void {
  const n = src.length / srcCols;
  const dstCols = ones ? width + 1 : width;
  for (let i = 0; i < n; i++) {
    dst.set(src.subarray(i * srcCols + from, i * srcCols + from + width), i * dstCols);
    if (ones) dst[i * dstCols + width] = 1;
  }
}

/** Binds the onnxruntime kernels to X [n, d] (converted to the graph's precision once). */
export function createOrtKernels(X: Float32Array | Float64Array, n: number, d: number, opts: KernelOptions = {}): DataKernels {
  const elem: ElemType = opts.precision ?? 'float32';
  const threads = opts.threads ?? os.cpus().length;
  const xa = elem === 'float32' ? new Float32Array(n * (d + 1)) : new Float64Array(n * (d + 1));
  copyColumns(X, d, 0, d, xa, true);
  const xTensor = new ort.Tensor(elem, xa, [n, d + 1]);
  const eCuts = columnBlocks(d, E_BLOCKS);
  const mCuts = columnBlocks(d, M_BLOCKS);
  const alloc = (len: number) => (elem === 'float32' ? new Float32Array(len) : new Float64Array(len));
  // the blocked products' fixed inputs, each set made once per data matrix on first use: the
  // E-step's prefixes (about 3.5 copies of X) and the dense M-step's columns and X^T (2 copies);
  // a matrix only evaluated (test rows) or only summed (KDE, Student-t) never makes the other
  let prefixInputs: ort.Tensor[] | undefined;
  const eBlocks = () => {
    if (prefixInputs) return prefixInputs;
    const prefixes: ort.Tensor[] = [];
    for (let b = 0; b + 1 < eCuts.length; b++) {
      // [x_{<e} | 1] as [n, e+1]; the last block is Xa itself
      const e = eCuts[b + 1];
      if (e === d) prefixes.push(xTensor);
      else {
        const p = alloc(n * (e + 1));
        copyColumns(xa, d + 1, 0, e, p, true);
        prefixes.push(new ort.Tensor(elem, p, [n, e + 1]));
      }
    }
    return (prefixInputs = prefixes);
  };
  let momentInputs: { columns: ort.Tensor[]; suffixesT: ort.Tensor[] } | undefined;
  const mBlocks = () => {
    if (momentInputs) return momentInputs;
    const columns: ort.Tensor[] = [];
    const suffixesT: ort.Tensor[] = [];
    // X^T once, in 32 x 32 tiles (a plain strided loop misses the cache on every write); the
    // suffix rows x_{>=c_b}^T are then views into it
    const xt = alloc(d * n);
    const TILE = 32;
    for (let i0 = 0; i0 < n; i0 += TILE) {
      for (let a0 = 0; a0 < d; a0 += TILE) {
        const i1 = Math.min(n, i0 + TILE);
        const a1 = Math.min(d, a0 + TILE);
        for (let i = i0; i < i1; i++) for (let a = a0; a < a1; a++) xt[a * n + i] = xa[i * (d + 1) + a];
      }
    }
    for (let b = 0; b + 1 < mCuts.length; b++) {
      const w = mCuts[b + 1] - mCuts[b];
      const c = alloc(n * w);
      copyColumns(xa, d + 1, mCuts[b], w, c, false);
      columns.push(new ort.Tensor(elem, c, [n, w]));
      suffixesT.push(new ort.Tensor(elem, xt.subarray(mCuts[b] * n), [d - mCuts[b], n]));
    }
    return (momentInputs = { columns, suffixesT });
  };
  // |x_i|^2 for k-means only: made on its first step
  let rowNormsCache: Float64Array | undefined;
  const rowNorms = () => {
    if (rowNormsCache) return rowNormsCache;
    rowNormsCache = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += X[i * d + j] * X[i * d + j];
      rowNormsCache[i] = s;
    }
    return rowNormsCache;
  };
  // the narrow products (k-means, diag covariance) do ~10 MFLOP per call: a thread pool
  // costs more in wake-ups than it saves
  const narrow = (kind: GraphKind) => kind === 'kmeans' || kind === 'crossdot' || kind === 'sums';
  const get = (kind: GraphKind) => kernelSession(sessions, `${kind}|${d}|${elem}`, () => buildGraph(kind, d, elem), opts, { threads: narrow(kind) ? 1 : threads });

  /** [W; -b] as [d+1, k*d] in the graph's precision */
  const augmented = (W: Float64Array, b: Float64Array) => {
    const out = elem === 'float32' ? new Float32Array(W.length + b.length) : new Float64Array(W.length + b.length);
    out.set(W);
    for (let t = 0; t < b.length; t++) out[W.length + t] = -b[t];
    return out;
  };

  const runWhiten = async (W: Float64Array, b: Float64Array, k: number) => {
    const s = await get('whiten');
    const out = await s.run({ Xa: xTensor, Wa: new ort.Tensor(elem, augmented(W, b), [d + 1, k * d]) });
    return out[s.outputNames[0]].data as Float32Array | Float64Array;
  };

  /**
   * First moments of responsibilities R [n, k]: R^T X by one narrow product (the ones column
   * of Xa gives the counts, unused here), and the means they give with the column sums sumR.
   */
  const firstMoments = async (Rt: ort.Tensor, sumR: Float64Array, k: number) => {
    const s = await get('sums');
    const first = (await s.run({ Xa: xTensor, R: Rt }))[s.outputNames[0]].data as Float32Array | Float64Array;
    const means = new Float64Array(k * d);
    const firstSums = new Float64Array(k * d);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) {
        firstSums[c * d + j] = first[c * (d + 1) + j];
        means[c * d + j] = firstSums[c * d + j] / sumR[c];
      }
    }
    return { firstSums, means };
  };

  /**
   * The M-step's moments from each component's active rows only (responsibility above
   * NEGLIGIBLE_RESPONSIBILITY): first moments as the dense path takes them, the scatter
   * about them by one product per component on its gathered rows. Same centring correction
   * as the dense path.
   */
  const sparseMoments = async (R: Float64Array, sumR: Float64Array, k: number) => {
    const s = await get('scatter1');
    const { firstSums, means } = await firstMoments(new ort.Tensor(elem, toElem(R, elem), [n, k]), sumR, k);
    const scatter = new Float64Array(k * d * d);
    // each component's active rows, in one pass over R
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) if (R[i * k + c] > NEGLIGIBLE_RESPONSIBILITY) counts[c]++;
    const idx = Array.from(counts, (m) => new Int32Array(m));
    const r = Array.from(counts, (m) => alloc(m));
    const fill = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        const ri = R[i * k + c];
        if (!(ri > NEGLIGIBLE_RESPONSIBILITY)) continue;
        idx[c][fill[c]] = i;
        r[c][fill[c]++] = ri;
      }
    }
    const mu = alloc(d + 1);
    mu[d] = 1;
    for (let c = 0; c < k; c++) {
      mu.set(means.subarray(c * d, (c + 1) * d)); // the centre the graph subtracts, in its precision
      const o = c * d * d;
      const m = counts[c];
      const first = firstSums.subarray(c * d, (c + 1) * d);
      const mean = means.subarray(c * d, (c + 1) * d);
      if (m > 0) {
        const out = await s.run({ Xa: xTensor, idx: new ort.Tensor('int32', idx[c], [m]), r: new ort.Tensor(elem, r[c], [m, 1]), mu: new ort.Tensor(elem, mu, [1, d + 1]) });
        // the leading d x d block of the [d+1, d+1] product, read in place
        correctCentre(scatter, o, mu, first, mean, sumR[c], out[s.outputNames[0]].data as Float32Array | Float64Array, 0, d + 1);
      } else {
        correctCentre(scatter, o, mu, first, mean, sumR[c]);
      }
    }
    return { means, scatter };
  };

  /**
   * sum r (x - m)(x - m)^T = P - m (s - N m)^T for the centre m the product used (P = sum r x
   * (x - m)^T); moving it to the float64 mean costs N (mean - m)(mean - m)^T. Reads P's lower
   * triangle (by default already in scatter at o; else from P at pAt with row stride pStride),
   * writes the symmetric result into scatter at o.
   */
  const correctCentre = (
    scatter: Float64Array, o: number, mu: ArrayLike<number>, firstSums: ArrayLike<number>, mean: ArrayLike<number>, N: number,
    P: ArrayLike<number> = scatter, pAt = o, pStride = d,
  ) => {
    for (let a = 0; a < d; a++) {
      const ma = mu[a];
      const da = mean[a] - ma;
      const row = pAt + a * pStride;
      for (let bb = 0; bb <= a; bb++) {
        const mb = mu[bb];
        const v = P[row + bb] - ma * (firstSums[bb] - N * mb) - N * da * (mean[bb] - mb);
        scatter[o + a * d + bb] = v;
        scatter[o + bb * d + a] = v;
      }
    }
  };

  return {
    n,
    d,
    async mahalanobis(U, b, k) {
      const s = await get('mahalanobis');
      const prefixes = eBlocks();
      const feeds: Record<string, ort.Tensor> = {};
      for (let blk = 0; blk + 1 < eCuts.length; blk++) {
        const e = eCuts[blk + 1];
        const w = e - eCuts[blk];
        // rows 0..e of columns c_b..e of every [U_k; -b_k]: the rest of those columns is zero
        const Wb = alloc((e + 1) * k * w);
        for (let a = 0; a < e; a++) {
          for (let c = 0; c < k; c++) {
            // U_c[a, c_b..e), straight from the stacked factors
            const from = (c * d + a) * d + eCuts[blk];
            const to = a * k * w + c * w;
            for (let j = 0; j < w; j++) Wb[to + j] = U[from + j];
          }
        }
        for (let c = 0; c < k; c++) for (let j = 0; j < w; j++) Wb[e * k * w + c * w + j] = -b[c * d + eCuts[blk] + j];
        feeds[`Xp${blk}`] = prefixes[blk];
        feeds[`W${blk}`] = new ort.Tensor(elem, Wb, [e + 1, k * w]);
      }
      const out = await s.run(feeds);
      return toF64(out[s.outputNames[0]].data);
    },
    async whiten(W, b, k) {
      return runWhiten(W, b, k);
    },
    async weightedMoments(R, sumR, k) {
      let active = 0;
      for (let t = 0; t < n * k; t++) if (R[t] > NEGLIGIBLE_RESPONSIBILITY) active++;
      if (active <= SPARSE_SHARE * n * k) return sparseMoments(R, sumR, k);
      const Rt = new ort.Tensor(elem, toElem(R, elem), [n, k]);
      // first moments, then the scatter about them
      const { firstSums, means } = await firstMoments(Rt, sumR, k);
      const mu = toElem(means, elem); // the centre the graph subtracts, in its precision
      const s = await get('moments');
      const { columns, suffixesT } = mBlocks();
      const feeds: Record<string, ort.Tensor> = { R: Rt, Mu: new ort.Tensor(elem, mu, [k, d]) };
      for (let blk = 0; blk + 1 < mCuts.length; blk++) {
        feeds[`Xb${blk}`] = columns[blk];
        feeds[`Xt${blk}`] = suffixesT[blk];
      }
      const out = await s.run(feeds);
      const scatter = new Float64Array(k * d * d);
      for (let blk = 0; blk + 1 < mCuts.length; blk++) {
        // P_b[a - c_b, c*w + j] = sum_i r_ic x_ia (x_i(c_b + j) - mu_c(c_b + j)) for a >= c_b
        const Pb = out[s.outputNames[blk]].data as Float32Array | Float64Array;
        const c0 = mCuts[blk];
        const w = mCuts[blk + 1] - c0;
        const kw = k * w;
        // row by row of P_b (contiguous reads); the part above the diagonal is overwritten below
        for (let a = c0; a < d; a++) {
          const from = (a - c0) * kw;
          for (let c = 0; c < k; c++) {
            const to = c * d * d + a * d + c0;
            for (let j = 0; j < w; j++) scatter[to + j] = Pb[from + c * w + j];
          }
        }
      }
      for (let c = 0; c < k; c++) {
        const at = (v: ArrayLike<number>) => (v as Float64Array).subarray(c * d, (c + 1) * d);
        correctCentre(scatter, c * d * d, at(mu), at(firstSums), at(means), sumR[c]);
      }
      return { means, scatter };
    },
    async crossDot(C, k) {
      const s = await get('crossdot');
      const Ct = new Float64Array((d + 1) * k); // last row 0: the ones column contributes nothing
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) Ct[j * k + c] = C[c * d + j];
      const out = await s.run({ Xa: xTensor, Ct: new ort.Tensor(elem, toElem(Ct, elem), [d + 1, k]) });
      return toF64(out[s.outputNames[0]].data);
    },
    async gaussianLogits(mu, S, k, linScale, quadScale) {
      const s = await get('gausslogit');
      const W = alloc((d + 1) * k * d); // row a: S_1[a, :] .. S_k[a, :]; last row 0
      for (let c = 0; c < k; c++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) W[a * k * d + c * d + b] = S[(c * d + a) * d + b];
      const Mu = alloc((d + 1) * k);
      for (let c = 0; c < k; c++) for (let a = 0; a < d; a++) Mu[a * k + c] = mu[c * d + a];
      const scales = elem === 'float32' ? Float32Array.of(linScale, quadScale) : Float64Array.of(linScale, quadScale);
      const out = await s.run({
        Xa: xTensor, W: new ort.Tensor(elem, W, [d + 1, k * d]), Mu: new ort.Tensor(elem, Mu, [d + 1, k]), scales: new ort.Tensor(elem, scales, [2]),
      });
      return toF64(out[s.outputNames[0]].data);
    },
    async logSumExpDot(C, k, scale, offsets) {
      const s = await get('lsedot');
      // Ct = [C^T; offsets]: the ones column of Xa adds each centre's offset
      const Ct = elem === 'float32' ? new Float32Array((d + 1) * k) : new Float64Array((d + 1) * k);
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) Ct[j * k + c] = C[c * d + j];
      if (offsets) Ct.set(offsets, d * k);
      const out = await s.run({ Xa: xTensor, Ct: new ort.Tensor(elem, Ct, [d + 1, k]), scale: new ort.Tensor(elem, elem === 'float32' ? Float32Array.of(scale) : Float64Array.of(scale), [1]) });
      return toF64(out[s.outputNames[0]].data);
    },
    async weightedSums(R, k) {
      const s = await get('sums');
      const out = await s.run({ Xa: xTensor, R: new ort.Tensor(elem, toElem(R, elem), [n, k]) });
      const raw = out[s.outputNames[0]].data as Float32Array | Float64Array;
      const sums = new Float64Array(k * d);
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) sums[c * d + j] = raw[c * (d + 1) + j];
      return sums;
    },
    derive(Y, dy) {
      return createOrtKernels(Y, n, dy, opts);
    },
    async kmeansStep(C, k) {
      const s = await get('kmeans');
      const Ct = new Float64Array((d + 1) * k);
      for (let c = 0; c < k; c++) {
        let half = 0;
        for (let j = 0; j < d; j++) {
          Ct[j * k + c] = C[c * d + j];
          half += 0.5 * C[c * d + j] ** 2;
        }
        Ct[d * k + c] = -half;
      }
      const out = await s.run({ Xa: xTensor, Ct: new ort.Tensor(elem, toElem(Ct, elem), [d + 1, k]) });
      const labels = out[s.outputNames[0]].data as Int32Array;
      const best = out[s.outputNames[1]].data as Float32Array | Float64Array;
      const raw = out[s.outputNames[2]].data as Float32Array | Float64Array;
      const minDist = new Float64Array(n);
      const norms = rowNorms();
      for (let i = 0; i < n; i++) minDist[i] = Math.max(0, norms[i] - 2 * best[i]);
      const sums = new Float64Array(k * d);
      const counts = new Float64Array(k);
      for (let c = 0; c < k; c++) {
        for (let j = 0; j < d; j++) sums[c * d + j] = raw[c * (d + 1) + j];
        counts[c] = Math.round(raw[c * (d + 1) + d]);
      }
      return { labels, minDist, sums, counts };
    },
  };
}
