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

type GraphKind = 'mahalanobis' | 'whiten' | 'moments' | 'crossdot' | 'kmeans' | 'sums';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/**
 * Graphs over Xa = [X | 1] ([n, d+1]): whitening folds the offset into the product,
 * Z = Xa [W; -b] = X W - b, which saves a pass over the [n, k*d] result. Moments are
 * uncentred (the centring is done in float64 afterwards): a broadcast Sub over [k, n, d]
 * cost as much as the product itself.
 */
function buildGraph(kind: GraphKind, d: number, elem: ElemType): Uint8Array {
  const g = createGraph(`stats_${kind}`);
  const Xa = g.input('Xa', elem, ['n', d + 1]);
  if (kind === 'mahalanobis' || kind === 'whiten') {
    const Wa = g.input('Wa', elem, [d + 1, 'm']);
    const Z = g.node('MatMul', [Xa, Wa]);
    if (kind === 'whiten') {
      g.output(Z, elem, ['n', 'm']);
    } else {
      const sq = g.node('ReduceSumSquare', [g.node('Reshape', [Z, g.ints([0, -1, d])])], { axes: [2], keepdims: 0 });
      g.output(sq, elem, ['n', 'k']);
    }
  } else if (kind === 'moments') {
    const R = g.input('R', elem, ['n', 'k']);
    const Rt = g.node('Transpose', [R], { perm: [1, 0] }); // [k, n]
    // Xa's last column is 1, so row k of R^T Xa is [sum_i r_ik x_i | sum_i r_ik]
    const first = g.node('MatMul', [Rt, Xa]); // [k, d+1]
    const X = g.node('Slice', [Xa, g.ints([0]), g.ints([d]), g.ints([1])]); // [n, d]
    const weighted = g.node('Mul', [g.node('Unsqueeze', [X, g.ints([0])]), g.node('Unsqueeze', [g.node('Sqrt', [Rt]), g.ints([2])])]); // [k, n, d]
    const second = g.node('MatMul', [g.node('Transpose', [weighted], { perm: [0, 2, 1] }), weighted]); // [k, d, d]
    g.output(first, elem, ['k', d + 1]);
    g.output(second, elem, ['k', d, d]);
  } else if (kind === 'kmeans') {
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
    g.output(labels, 'int64', ['n']);
    g.output(best, elem, ['n']);
    g.output(sums, elem, ['k', d + 1]);
  } else if (kind === 'sums') {
    const R = g.input('R', elem, ['n', 'k']);
    g.output(g.node('MatMul', [g.node('Transpose', [R], { perm: [1, 0] }), Xa]), elem, ['k', d + 1]);
  } else {
    const Ct = g.input('Ct', elem, [d + 1, 'k']);
    g.output(g.node('MatMul', [Xa, Ct]), elem, ['n', 'k']);
  }
  return g.toBytes();
}

function session(kind: GraphKind, d: number, elem: ElemType, threads: number, providers: string[], spinning: boolean): Promise<ort.InferenceSession> {
  const key = `${kind}|${d}|${elem}|${threads}|${providers.join(',')}|${spinning}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(buildGraph(kind, d, elem), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // spinning workers fight other processes for the cores: on this shared 2-core machine a
      // 2-thread K = 1..10 sweep took 21 s spinning and 10-12 s without (1 thread: 8-11 s)
      extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
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
  const xa = elem === 'float32' ? new Float32Array(n * (d + 1)) : new Float64Array(n * (d + 1));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) xa[i * (d + 1) + j] = X[i * d + j];
    xa[i * (d + 1) + d] = 1;
  }
  const xTensor = new ort.Tensor(elem, xa, [n, d + 1]);
  const rowNorms = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) rowNorms[i] += X[i * d + j] ** 2;
  // the narrow products (k-means, diag covariance) do ~10 MFLOP per call: a thread pool
  // costs more in wake-ups than it saves
  const narrow = (kind: GraphKind) => kind === 'kmeans' || kind === 'crossdot' || kind === 'sums';
  const get = (kind: GraphKind) => session(kind, d, elem, narrow(kind) ? 1 : threads, providers, opts.spinning ?? false);

  /** [W; -b] as [d+1, k*d] in the graph's precision */
  const augmented = (W: Float64Array, b: Float64Array) => {
    const out = elem === 'float32' ? new Float32Array(W.length + b.length) : new Float64Array(W.length + b.length);
    out.set(W);
    for (let t = 0; t < b.length; t++) out[W.length + t] = -b[t];
    return out;
  };

  const runWhiten = async (kind: 'mahalanobis' | 'whiten', W: Float64Array, b: Float64Array, k: number) => {
    const s = await get(kind);
    const out = await s.run({ Xa: xTensor, Wa: new ort.Tensor(elem, augmented(W, b), [d + 1, k * d]) });
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
      const out = await s.run({ Xa: xTensor, R: new ort.Tensor(elem, toElem(R, elem), [n, k]) });
      const first = out[s.outputNames[0]].data as Float32Array | Float64Array;
      const second = out[s.outputNames[1]].data as Float32Array | Float64Array;
      const means = new Float64Array(k * d);
      for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) means[c * d + j] = first[c * (d + 1) + j] / sumR[c];
      // scatter = sum r x x^T - N mu mu^T in float64; the data are centred on their column
      // means, so the cancellation costs only (|mu_k| / sd)^2 float32 ulps
      const scatter = new Float64Array(k * d * d);
      for (let c = 0; c < k; c++) {
        const o = c * d * d;
        const N = sumR[c];
        for (let a = 0; a < d; a++) {
          const ma = N * means[c * d + a];
          for (let bb = 0; bb <= a; bb++) {
            // average the two triangles: MatMul(A^T, A) need not be bit-symmetric
            const v = 0.5 * (second[o + a * d + bb] + second[o + bb * d + a]) - ma * means[c * d + bb];
            scatter[o + a * d + bb] = v;
            scatter[o + bb * d + a] = v;
          }
        }
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
      const labels64 = out[s.outputNames[0]].data as BigInt64Array;
      const best = out[s.outputNames[1]].data as Float32Array | Float64Array;
      const raw = out[s.outputNames[2]].data as Float32Array | Float64Array;
      const labels = new Int32Array(n);
      const minDist = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = Number(labels64[i]);
        minDist[i] = Math.max(0, rowNorms[i] - 2 * best[i]);
      }
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
