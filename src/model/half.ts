/**
 * The model layer's names for IEEE 754 binary16 conversion; the one implementation (checked
 * bit for bit against numpy) lives in src/npz/float16.ts.
 */
import { float32ToHalf, floatToHalfBits, halfToFloat32 } from '../npz/float16.js';

/** Round a number to the nearest half (ties to even) and return its 16 raw bits. */
export const toHalfBits = floatToHalfBits;

/** Half bits of every element (rounded to nearest, ties to even). */
export const toHalfArray = (values: ArrayLike<number>): Uint16Array => float32ToHalf(values);

/** Float32 values of an array of half bits. */
export const fromHalfArray = (bits: Uint16Array): Float32Array => halfToFloat32(bits);

const one = new Uint16Array(1);

/** The value held by 16 raw half bits. */
export function fromHalfBits(bits: number): number {
  one[0] = bits;
  return halfToFloat32(one)[0]!;
}
