/**
 * Chooses the kernel backend for a data matrix. Re-exports the kernel types so the
 * algorithms import one module.
 */
import { createJsKernels } from './js.js';
import { createOrtKernels } from './ort.js';
import type { DataKernels, KernelOptions } from './types.js';

export type { DataKernels, KernelOptions, KernelBackend, KernelPrecision } from './types.js';

/** Kernels bound to X [n, d] row-major on the requested backend (default onnxruntime float32). */
export function createKernels(X: Float32Array | Float64Array, n: number, d: number, opts: KernelOptions = {}): DataKernels {
  return (opts.backend ?? 'ort') === 'js' ? createJsKernels(X, n, d) : createOrtKernels(X, n, d, opts);
}
