import type * as ort from 'onnxruntime-node';
import { float32ToHalf } from '../../npz/float16.js';

/**
 * One captured-rows output of a capture, layer or loop graph as float16 bits, whatever field it
 * holds (hidden, queries, keys, …): the graph's own float16 as is, or — when the rows left the
 * graph as float32 (SurgeryOptions.rowsOnHost, a WebGPU device without shader-f16) — rounded
 * here to the nearest half, ties to even, with subnormals, overflow to ±Inf and NaN as
 * onnxruntime's Cast writes them, so the file holds the bits the in-graph Cast would have.
 */
export function rowsAsHalf(t: ort.Tensor, name: string): Uint16Array {
  if (t.type === 'float16') return t.data as Uint16Array;
  if (t.type === 'float32') return float32ToHalf(t.data as Float32Array);
  throw new Error(`captured rows ${name} came out as ${t.type}, expected float16 or float32`);
}
