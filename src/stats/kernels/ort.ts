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

type GraphKind = 'mahalanobis' | 'whiten' | 'moments' | 'crossdot';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** X [n,d], W [d,M], B [1,M] -> Z = X W - B [n,M]; the mahalanobis graph then sums squares per block of d. */
function buildGraph(kind: GraphKind, d: number, elem: ElemType): Uint8Array {
  const g = createGraph(`stats_${kind}`);
  const X = g.input('X', elem, ['n', d]);
  if (kind === 'mahalanobis' || kind === 'whiten') {
    const W = g.input('W', elem, [d, 'm']);
    const B = g.input('B', elem, [1, 'm']);
    const Z = g.node('Sub', [g.node('MatMul', [X, W]), B]);
    if (kind === 'whiten') {
      g.output(Z, elem, ['n', 'm']);
    } else {
      const blocks = g.node('Reshape', [Z, g.ints([0, -1, d])]);
      const sq = g.node('ReduceSumSquare', [blocks], { axes: [2], keepdims: 0 });
      g.output(sq, elem, ['n', 'k']);
    }
  } else if (kind === 'moments') {
    const R = g.input('R', elem, ['n', 'k']);
    const invSum = g.input('InvSum', elem, ['k', 1]);
    const Rt = g.node('Transpose', [R], { perm: [1, 0] }); // [k, n]
    const means = g.node('Mul', [g.node('MatMul', [Rt, X]), invSum]); // [k, d]
    // centred at the new means before the product: the uncentred form loses float32 digits
    const diff = g.node('Sub', [g.node('Unsqueeze', [X, g.ints([0])]), g.node('Unsqueeze', [means, g.ints([1])])]); // [k, n, d]
    const weighted = g.node('Mul', [diff, g.node('Unsqueeze', [g.node('Sqrt', [Rt]), g.ints([2])])]);
    const scatter = g.node('MatMul', [g.node('Transpose', [weighted], { perm: [0, 2, 1] }), weighted]); // [k, d, d]
    g.output(means, elem, ['k', d]);
    g.output(scatter, elem, ['k', d, d]);
  } else {
    const Ct = g.input('Ct', elem, [d, 'k']);
    g.output(g.node('MatMul', [X, Ct]), elem, ['n', 'k']);
  }
  return g.toBytes();
}

function session(kind: GraphKind, d: number, elem: ElemType, threads: number, providers: string[]): Promise<ort.InferenceSession> {
  const key = `${kind}|${d}|${elem}|${threads}|${providers.join(',')}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(buildGraph(kind, d, elem), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    sessions.set(key, s);
  }
  return s;
}

function toElem(a: Float64Array, elem: ElemType): Float32Array | Float64Array {
  return elem === 'float32' ? Float32Array.from(a) : a;
}

function toF64(a: ort.Tensor['data']): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a as Float32Array);
}

/** Binds the onnxruntime kernels to X [n, d] (converted to the graph's precision once). */
export function createOrtKernels(X: Float32Array | Float64Array, n: number, d: number, opts: KernelOptions = {}): DataKernels {
  const elem: ElemType = opts.precision ?? 'float32';
  const threads = opts.threads ?? os.cpus().length;
  const providers = opts.executionProviders ?? ['cpu'];
  const xData = elem === 'float32' ? (X instanceof Float32Array ? X : Float32Array.from(X)) : X instanceof Float64Array ? X : Float64Array.from(X);
  const xTensor = new ort.Tensor(elem, xData, [n, d]);
  const get = (kind: GraphKind) => session(kind, d, elem, threads, providers);

  const runWhiten = async (kind: 'mahalanobis' | 'whiten', W: Float64Array, b: Float64Array, k: number) => {
    const s = await get(kind);
    const out = await s.run({
      X: xTensor,
      W: new ort.Tensor(elem, toElem(W, elem), [d, k * d]),
      B: new ort.Tensor(elem, toElem(b, elem), [1, k * d]),
    });
    return out[s.outputNames[0]].data as Float32Array | Float64Array;
  };

  return {
    n,
    d,
    async mahalanobis(W, b, k) {
      return toF64(await runWhiten('mahalanobis', W, b, k));
    },
    async whiten(W, b, k) {
      return runWhiten('whiten', W, b, k);
    },
    async weightedMoments(R, sumR, k) {
      const s = await get('moments');
      const inv = new Float64Array(k);
      for (let c = 0; c < k; c++) inv[c] = 1 / sumR[c];
      const out = await s.run({
        X: xTensor,
        R: new ort.Tensor(elem, toElem(R, elem), [n, k]),
        InvSum: new ort.Tensor(elem, toElem(inv, elem), [k, 1]),
      });
      const means = toF64(out[s.outputNames[0]].data);
      const scatter = toF64(out[s.outputNames[1]].data);
      // MatMul(A^T, A) need not be bit-symmetric; the Cholesky reads one triangle, keep both equal
      for (let c = 0; c < k; c++) {
        const o = c * d * d;
        for (let a = 0; a < d; a++) {
          for (let bb = 0; bb < a; bb++) {
            const v = 0.5 * (scatter[o + a * d + bb] + scatter[o + bb * d + a]);
            scatter[o + a * d + bb] = v;
            scatter[o + bb * d + a] = v;
          }
        }
      }
      return { means, scatter };
    },
    async crossDot(C, k) {
      const s = await get('crossdot');
      const Ct = new Float64Array(d * k);
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) Ct[j * k + c] = C[c * d + j];
      const out = await s.run({ X: xTensor, Ct: new ort.Tensor(elem, toElem(Ct, elem), [d, k]) });
      return toF64(out[s.outputNames[0]].data);
    },
  };
}
