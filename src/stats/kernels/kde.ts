/**
 * The Gaussian KDE's heavy part as one onnxruntime graph: whiten the (centred) training and
 * test rows, and for each test row the log-sum-exp over training rows of
 * -|z_i - z_j|^2 / 2 = z_j . z_i - |z_i|^2 / 2 - |z_j|^2 / 2. Nothing of size n x d leaves
 * onnxruntime (the whitened rows, their norms, the [m, n] exponents stay inside): JS sees the
 * d x d factor going in and m values coming out.
 *
 * The whitening and the norms run in float64; the cross products and their exponentials in
 * `crossElem` (float32 for `poc analyze`, ~1e-5 nats, see kde.ts). The log-sum-exp takes the
 * row maximum first and exponentiates the differences (onnxruntime's vectorised Exp; its
 * ReduceLogSumExp ran element by element), and adds the maximum back in float64, so only
 * the products and the sum of exponentials are rounded to crossElem.
 */
import * as ort from 'onnxruntime-node';
import { createGraph, type ElemType } from './onnx-graph.js';
import type { KernelOptions, KernelPrecision } from './types.js';
import { kernelSession, type SessionCache } from './session-cache.js';

const sessions: SessionCache = new Map();

const DOUBLE = 11;
const FLOAT = 1;

function buildGraph(d: number, cross: ElemType | 'gram'): Uint8Array {
  if (cross === 'gram') {
    const g = createGraph('kde_gram');
    const Xa = g.input('Xa', 'float64', ['n', d + 1]);
    g.output(g.node('MatMul', [g.node('Transpose', [Xa], { perm: [1, 0] }), Xa]), 'float64', [d + 1, d + 1]);
    return g.toBytes();
  }
  const g = createGraph('kde_lse');
  // [x - mean | 1] rows and [U; 0]: the whitened rows (x - mean) U
  const Xtr = g.input('Xtr', 'float64', ['n', d + 1]);
  const Xte = g.input('Xte', 'float64', ['m', d + 1]);
  const Wa = g.input('Wa', 'float64', [d + 1, d]);
  const Ztr = g.node('MatMul', [Xtr, Wa]);
  const Zte = g.node('MatMul', [Xte, Wa]);
  const asCross = (t: string) => (cross === 'float64' ? t : g.node('Cast', [t], { to: FLOAT }));
  const halfNormTr = g.node('Mul', [g.node('ReduceSumSquare', [Ztr], { axes: [1], keepdims: 0 }), g.scalar(-0.5, 'float64')]); // [n]
  const halfNormTe = g.node('Mul', [g.node('ReduceSumSquare', [Zte], { axes: [1], keepdims: 0 }), g.scalar(-0.5, 'float64')]); // [m]
  // S[j, i] = z_j . z_i - |z_i|^2 / 2, [m, n]
  const S = g.node('Add', [g.node('MatMul', [asCross(Zte), g.node('Transpose', [asCross(Ztr)], { perm: [1, 0] })]), asCross(halfNormTr)]);
  const top = g.node('ReduceMax', [S], { axes: [1], keepdims: 1 }); // [m, 1]
  const sumExp = g.node('ReduceSum', [g.node('Exp', [g.node('Sub', [S, top])]), g.ints([1])], { keepdims: 0 }); // [m]
  const toDouble = (t: string) => (cross === 'float64' ? t : g.node('Cast', [t], { to: DOUBLE }));
  const topFlat = g.node('Squeeze', [top, g.ints([1])]);
  const lse = g.node('Add', [toDouble(topFlat), toDouble(g.node('Log', [sumExp]))]);
  g.output(g.node('Add', [lse, halfNormTe]), 'float64', ['m']);
  return g.toBytes();
}

// no memory pattern: with one, a unit's second run of the cross graph (819 x 3277, one core)
// took 100-200 ms against ~9 ms for the runs after it, the first use of the one block planned
// for the run's intermediates (the [m, n] exponents, ~10 MB; page faults); without, the second
// run took ~30 ms and later ones the same ~9 ms (bench analyze, separated units). Memory
// planning changes no arithmetic.
const session = (d: number, cross: ElemType | 'gram', opts: KernelOptions) =>
  kernelSession(sessions, `${d}|${cross}`, () => buildGraph(d, cross), opts, { enableMemPattern: false });

/** Xa^T Xa for the rows Xa [n, d+1] (float64): the Gram matrix of [x - mean | 1], [d+1, d+1]. */
export async function kdeGram(Xa: Float64Array, n: number, d: number, opts: KernelOptions): Promise<Float64Array> {
  const s = await session(d, 'gram', opts);
  const out = await s.run({ Xa: new ort.Tensor('float64', Xa, [n, d + 1]) });
  return out[s.outputNames[0]!]!.data as Float64Array;
}

/**
 * out[j] = ln sum_i exp(-|z_i - z_j|^2 / 2) for z = (x - centre) U, over the rows of train
 * [n, d] for each row of test [m, d] (both given as [x - centre | 1] float64, [rows, d+1]),
 * U [d, d] upper triangular. `blockRows` test rows per run bound the [block, n] exponents;
 * each run whitens the training rows again (d / blockRows of a run's work: 1/8 at d 128; a
 * 4096-row unit's 819 held-out rows take one run).
 */
export async function kdeLogSumExp(
  trainA: Float64Array, n: number, testA: Float64Array, m: number, d: number, U: Float64Array, cross: KernelPrecision, opts: KernelOptions, blockRows = 1024,
): Promise<Float64Array> {
  const s = await session(d, cross, opts);
  const Wa = new Float64Array((d + 1) * d);
  Wa.set(U.subarray(0, d * d));
  const feeds = { Xtr: new ort.Tensor('float64', trainA, [n, d + 1]), Wa: new ort.Tensor('float64', Wa, [d + 1, d]) };
  const out = new Float64Array(m);
  for (let j0 = 0; j0 < m; j0 += blockRows) {
    const b = Math.min(blockRows, m - j0);
    const Xte = new ort.Tensor('float64', testA.subarray(j0 * (d + 1), (j0 + b) * (d + 1)), [b, d + 1]);
    const res = await s.run({ ...feeds, Xte });
    out.set(res[s.outputNames[0]!]!.data as Float64Array, j0);
  }
  return out;
}
