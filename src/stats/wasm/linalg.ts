/**
 * The WebAssembly build of the d x d factorisation EM runs k times per iteration (see
 * linalg.wat for why it is not plain JS). One instance per thread, compiled synchronously
 * on first use (the module is a few hundred bytes), its memory grown to fit the largest d.
 */
import type { PrecisionFactor } from '../linalg.js';
import { WASM_BASE64 } from './linalg-wasm.js';

// the project compiles without the DOM lib, so the few WebAssembly types used are spelled out
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WasmApi };

interface LinalgExports {
  memory: WasmMemory;
  precision_cholesky(d: number, a: number, u: number): number;
  matvec(d: number, a: number, x: number, y: number): void;
  cholesky_lower(d: number, a: number, l: number): number;
  matmul_bt(m: number, a: number, bt: number, c: number): void;
  ridge_point(d: number, a: number, b: number): number;
}

let instance: LinalgExports | undefined;

function exportsFor(bytes: number): LinalgExports {
  instance ??= new wasmApi.Instance(new wasmApi.Module(Buffer.from(WASM_BASE64, 'base64'))).exports as unknown as LinalgExports;
  const have = instance.memory.buffer.byteLength;
  if (have < bytes) instance.memory.grow(Math.ceil((bytes - have) / 65536));
  return instance;
}

/**
 * scikit-learn's precisions_cholesky of one covariance (as precisionCholesky in linalg.ts);
 * null when not positive definite. U is written into `out` (d x d) when given (EM fills its
 * stacked factors in place), else into a new array.
 */
export function precisionCholeskyWasm(cov: Float64Array, d: number, out?: Float64Array): PrecisionFactor | null {
  const dd = d * d;
  const wasm = exportsFor(2 * dd * 8);
  const mem = new Float64Array(wasm.memory.buffer, 0, 2 * dd);
  mem.set(cov.subarray(0, dd), 0);
  if (wasm.precision_cholesky(d, 0, dd * 8) === 0) return null;
  let logDetU = 0;
  for (let j = 0; j < d; j++) logDetU += Math.log(mem[dd + j * d + j]);
  if (!Number.isFinite(logDetU)) return null;
  // U comes out whole, zeros below its diagonal
  const U = out ?? new Float64Array(dd);
  U.set(mem.subarray(dd, 2 * dd));
  return { U, logDetU };
}

/**
 * Loads the d x d row-major A into the module and returns y = A x as a function (f64x2 SIMD,
 * ~3x the JS loop); the function is valid until another function of this module runs.
 */
export function matVecWasm(A: Float64Array, d: number): (x: Float64Array, out: Float64Array) => Float64Array {
  const dd = d * d;
  const wasm = exportsFor((dd + 2 * d) * 8);
  new Float64Array(wasm.memory.buffer, 0, dd).set(A.subarray(0, dd));
  return (x, out) => {
    const mem = new Float64Array(wasm.memory.buffer, 0, dd + 2 * d);
    mem.set(x.subarray(0, d), dd);
    wasm.matvec(d, 0, dd * 8, (dd + d) * 8);
    out.set(mem.subarray(dd + d, dd + 2 * d));
    return out;
  };
}

/** Lower Cholesky factor L (L L^T = A, zeros above the diagonal) of the d x d A; null when A is not positive definite. */
export function choleskyWasm(A: Float64Array, d: number): Float64Array | null {
  const dd = d * d;
  const wasm = exportsFor(2 * dd * 8);
  const mem = new Float64Array(wasm.memory.buffer, 0, 2 * dd);
  mem.set(A.subarray(0, dd), 0);
  if (wasm.cholesky_lower(d, 0, dd * 8) === 0) return null;
  // only the lower triangle was written: copy it row by row into zeros
  const L = new Float64Array(dd);
  for (let i = 0; i < d; i++) L.set(mem.subarray(dd + i * d, dd + i * d + i + 1), i * d);
  return L;
}

/** One mixture component as the ridgeline needs it (modes.ts). */
export interface RidgelineComponent {
  mean: Float64Array;
  /** Sigma^-1 [d, d] */
  precision: Float64Array;
  /** Sigma^-1 mu */
  precisionMean: Float64Array;
  /** lower L, L L^T = Sigma (only the lower triangle is read) */
  cholCov: Float64Array;
}

/**
 * Points of the ridgeline of a pair of components in the module (linalg.wat's ridge_point):
 * `load` copies the pair in, then `point(a)` solves [(1-a) P_A + a P_B] x = (1-a) P_A mu_A + a P_B mu_B
 * and returns x's squared Mahalanobis distances to A and to B in `out` (false when the matrix
 * is not positive definite). The arithmetic is modes.ts's JS loops term for term (the same
 * bits), without their ~2 ns per multiply-add or the 128 KiB copies in and out of a
 * factorisation per point. Valid until another function of this module runs.
 */
export function ridgelineWasm(d: number): { load(A: RidgelineComponent, B: RidgelineComponent): void; point(a: number, out: Float64Array): boolean } {
  const dd = d * d;
  const wasm = exportsFor((6 * dd + 11 * d) * 8);
  return {
    load(A, B) {
      const mem = new Float64Array(wasm.memory.buffer, 0, 6 * dd + 11 * d);
      mem.set(A.precision.subarray(0, dd), 2 * dd);
      mem.set(B.precision.subarray(0, dd), 3 * dd);
      mem.set(A.cholCov.subarray(0, dd), 4 * dd);
      mem.set(B.cholCov.subarray(0, dd), 5 * dd);
      const v = 6 * dd;
      mem.set(A.precisionMean.subarray(0, d), v);
      mem.set(B.precisionMean.subarray(0, d), v + d);
      mem.set(A.mean.subarray(0, d), v + 2 * d);
      mem.set(B.mean.subarray(0, d), v + 3 * d);
    },
    point(a, out) {
      if (wasm.ridge_point(d, a, 1 - a) === 0) return false;
      const q = new Float64Array(wasm.memory.buffer, (6 * dd + 9 * d) * 8, 2);
      out[0] = q[0]!;
      out[1] = q[1]!;
      return true;
    },
  };
}

/** C = A B for m x m row-major matrices (f64x2 SIMD dot products along rows of A and of B^T). */
export function matMulWasm(A: Float64Array, B: Float64Array, m: number): Float64Array {
  const mm = m * m;
  const wasm = exportsFor(3 * mm * 8);
  const mem = new Float64Array(wasm.memory.buffer, 0, 3 * mm);
  mem.set(A.subarray(0, mm), 0);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) mem[mm + j * m + i] = B[i * m + j]!;
  wasm.matmul_bt(m, 0, mm * 8, 2 * mm * 8);
  return mem.slice(2 * mm, 3 * mm);
}
