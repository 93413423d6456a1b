import { ropeInvFreq, type RopeScaling } from '../model/config.js';

/**
 * Rotate-half RoPE as plain arithmetic on [n, d] rows: the rotation at one position, the
 * rotation matrix averaged over many positions (kvpress's `apply_avg_rope`), and both
 * applied to vectors and covariances. Frequencies come from the model layer's ropeInvFreq.
 */

/**
 * A rotation of rotate-half layout: for each frequency i < d/2 the 2x2 block on
 * dimensions (i, i + d/2) is [[cos_i, -sin_i], [sin_i, cos_i]]. An average of such
 * rotations keeps the layout (cos/sin become means), so one type serves both.
 */
export interface Rotation {
  cos: Float64Array; // [d/2]
  sin: Float64Array; // [d/2]
}

/** The RoPE settings a corpus records in meta.json (model.rope_theta, model.rope_scaling). */
export interface RopeSettings {
  headDim: number;
  theta: number;
  scaling: RopeScaling | null;
}

/** Inverse frequencies [d/2] of the model's RoPE (llama3 rescaling included). */
export function invFreqOf(rope: RopeSettings): Float64Array {
  return ropeInvFreq(rope.headDim, rope.theta, rope.scaling);
}

/** The rotation RoPE applies at token position `position`. */
export function rotationAt(invFreq: Float64Array, position: number): Rotation {
  const cos = new Float64Array(invFreq.length);
  const sin = new Float64Array(invFreq.length);
  for (let i = 0; i < invFreq.length; i++) {
    const angle = position * invFreq[i]!;
    cos[i] = Math.cos(angle);
    sin[i] = Math.sin(angle);
  }
  return { cos, sin };
}

/** The mean of the rotation matrices at `positions` (not itself a rotation: it shrinks). */
export function averageRotation(invFreq: Float64Array, positions: ArrayLike<number>): Rotation {
  const cos = new Float64Array(invFreq.length);
  const sin = new Float64Array(invFreq.length);
  for (let p = 0; p < positions.length; p++) {
    const r = rotationAt(invFreq, positions[p]!);
    for (let i = 0; i < invFreq.length; i++) { cos[i]! += r.cos[i]!; sin[i]! += r.sin[i]!; }
  }
  for (let i = 0; i < invFreq.length; i++) { cos[i]! /= positions.length; sin[i]! /= positions.length; }
  return { cos, sin };
}

/** The inverse (transpose) of a rotation: R(p)^T = R(-p). */
export function transposeRotation(r: Rotation): Rotation {
  return { cos: r.cos, sin: r.sin.map((s) => -s) };
}

/** out = R x for the d-vector at x[offset..offset+d) (out may not alias x). */
export function rotateVector(r: Rotation, x: ArrayLike<number>, out: Float64Array, offset = 0, outOffset = 0): Float64Array {
  const half = r.cos.length;
  for (let i = 0; i < half; i++) {
    const a = x[offset + i]!, b = x[offset + i + half]!;
    out[outOffset + i] = a * r.cos[i]! - b * r.sin[i]!;
    out[outOffset + i + half] = b * r.cos[i]! + a * r.sin[i]!;
  }
  return out;
}

/** Rows [n, d] each rotated to its own position: post-RoPE values from pre-RoPE ones. */
export function rotateRowsToPositions(X: ArrayLike<number>, positions: ArrayLike<number>, invFreq: Float64Array): Float64Array {
  const d = 2 * invFreq.length;
  const out = new Float64Array(positions.length * d);
  for (let t = 0; t < positions.length; t++) rotateVector(rotationAt(invFreq, positions[t]!), X, out, t * d, t * d);
  return out;
}

/** Every row [n, d] by the same rotation. */
export function rotateRows(r: Rotation, X: ArrayLike<number>, n: number): Float64Array {
  const d = 2 * r.cos.length;
  const out = new Float64Array(n * d);
  for (let t = 0; t < n; t++) rotateVector(r, X, out, t * d, t * d);
  return out;
}
