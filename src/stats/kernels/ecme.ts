/**
 * The two products of a one-component ECME iteration (the Student-t fit), bound to the rows
 * of one matrix centred once: squared Mahalanobis distances for an upper-triangular
 * whitening U, and the u-weighted Gram matrix of [x | 1]. One [n, d+1] copy of the rows
 * serves both (the mixture kernels' blocked inputs, ~6 copies, pay off only over a sweep),
 * and the per-iteration inputs reuse their buffers, so an iteration allocates only its
 * outputs. onnxruntime (float32 by default, as the mixture kernels) or float64 JS loops (the
 * reference, for tests and tiny inputs).
 */
import * as ort from 'onnxruntime-node';
import { createGraph, type ElemType } from './onnx-graph.js';
import type { KernelOptions } from './types.js';
import { kernelSession, type SessionCache } from './session-cache.js';

export interface EcmeKernels {
  readonly n: number;
  readonly d: number;
  /** delta_i = |(x_i - centre) U - b|^2 for U [d, d] upper triangular and b [d], [n] */
  distances(U: Float64Array, b: Float64Array): Promise<Float64Array>;
  /**
   * G = sum_i u_i a_i a_i^T for a_i = [x_i - centre, 1], [d+1, d+1] row-major: the weighted
   * scatter about the centre (top-left block), the weighted sums (last column) and sum u (corner).
   */
  weightedGram(u: Float64Array): Promise<Float64Array>;
}

type EcmeGraph = 'distances' | 'gram';

const sessions: SessionCache = new Map();
const session = (kind: EcmeGraph, d: number, elem: ElemType, opts: KernelOptions) =>
  kernelSession(sessions, `${kind}|${d}|${elem}`, () => buildGraph(kind, d, elem), opts);

function buildGraph(kind: EcmeGraph, d: number, elem: ElemType): Uint8Array {
  const g = createGraph(`ecme_${kind}`);
  const Xa = g.input('Xa', elem, ['n', d + 1]);
  if (kind === 'distances') {
    // [x | 1] [U; -b] = x U - b in one product, its squared row norms
    const Wa = g.input('Wa', elem, [d + 1, d]);
    g.output(g.node('ReduceSumSquare', [g.node('MatMul', [Xa, Wa])], { axes: [1], keepdims: 0 }), elem, ['n']);
  } else {
    const u = g.input('u', elem, ['n', 1]);
    g.output(g.node('MatMul', [g.node('Transpose', [Xa], { perm: [1, 0] }), g.node('Mul', [u, Xa])]), elem, [d + 1, d + 1]);
  }
  return g.toBytes();
}


/**
 * Binds the ECME products to the rows X [n, d] minus `centre` [d] (the subtraction in float64,
 * then one rounding to the backend's precision).
 */
export function createEcmeKernels(X: Float32Array | Float64Array, n: number, d: number, centre: Float64Array, opts: KernelOptions = {}): EcmeKernels {
  const js = (opts.backend ?? 'ort') === 'js';
  const elem = js ? 'float64' : opts.precision ?? 'float32';
  const alloc = (len: number) => (elem === 'float32' ? new Float32Array(len) : new Float64Array(len));
  const xa = centredWithOnes(X, n, d, centre, elem);
  if (js) return jsKernels(xa as Float64Array, n, d);
  const xTensor = new ort.Tensor(elem, xa, [n, d + 1]);
  // per-iteration inputs, refilled in place (the tensors wrap these buffers)
  const wa = alloc((d + 1) * d);
  const waTensor = new ort.Tensor(elem, wa, [d + 1, d]);
  const uBuf = alloc(n);
  const uTensor = new ort.Tensor(elem, uBuf, [n, 1]);
  return {
    n,
    d,
    async distances(U, b) {
      wa.set(U.subarray(0, d * d));
      for (let j = 0; j < d; j++) wa[d * d + j] = -b[j]!;
      const s = await session('distances', d, elem, opts);
      const out = await s.run({ Xa: xTensor, Wa: waTensor });
      return toF64(out[s.outputNames[0]!]!.data);
    },
    async weightedGram(u) {
      uBuf.set(u);
      const s = await session('gram', d, elem, opts);
      const out = await s.run({ Xa: xTensor, u: uTensor });
      return toF64(out[s.outputNames[0]!]!.data);
    },
  };
}

/** [x_i - centre | 1] for the rows of X [n, d], as [n, d+1] in `elem` (the subtraction in float64). */
export function centredWithOnes(X: ArrayLike<number>, n: number, d: number, centre: Float64Array, elem: 'float32' | 'float64'): Float32Array | Float64Array {
  // one loop per output type: a store site that sees both array types runs ~2x slower
  if (elem === 'float32') {
    const xa = new Float32Array(n * (d + 1));
    for (let i = 0; i < n; i++) {
      const from = i * d, to = i * (d + 1);
      for (let j = 0; j < d; j++) xa[to + j] = X[from + j]! - centre[j]!;
      xa[to + d] = 1;
    }
    return xa;
  }
  const xa = new Float64Array(n * (d + 1));
  for (let i = 0; i < n; i++) {
    const from = i * d, to = i * (d + 1);
    for (let j = 0; j < d; j++) xa[to + j] = X[from + j]! - centre[j]!;
    xa[to + d] = 1;
  }
  return xa;
}

function toF64(a: ort.Tensor['data']): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a as Float32Array);
}

/** The same products in float64 loops over the centred [x | 1] rows. */
function jsKernels(xa: Float64Array, n: number, d: number): EcmeKernels {
  const m = d + 1;
  return {
    n,
    d,
    async distances(U, b) {
      const out = new Float64Array(n);
      const z = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) z[j] = -b[j]!;
        for (let a = 0; a < d; a++) {
          const x = xa[i * m + a]!;
          for (let j = a; j < d; j++) z[j]! += x * U[a * d + j]!;
        }
        let s = 0;
        for (let j = 0; j < d; j++) s += z[j]! * z[j]!;
        out[i] = s;
      }
      return out;
    },
    async weightedGram(u) {
      const G = new Float64Array(m * m);
      for (let i = 0; i < n; i++) {
        const ui = u[i]!;
        for (let a = 0; a < m; a++) {
          const v = ui * xa[i * m + a]!;
          for (let b = 0; b <= a; b++) G[a * m + b]! += v * xa[i * m + b]!;
        }
      }
      for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) G[b * m + a] = G[a * m + b]!;
      return G;
    },
  };
}
