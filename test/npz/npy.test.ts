import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, NpyFormatError } from '../../src/npz/index.js';
import { decodeNpyHeader, encodeNpyHeader } from '../../src/npz/npy-header.js';
import type { NdArray } from '../../src/npz/types.js';

function sample(dtype: NdArray['dtype'], shape: number[]): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = Array.from({ length: n }, (_, i) => i);
  switch (dtype) {
    case 'float16': return { dtype, shape, data: Uint16Array.from(idx, (i) => (i * 977) & 0xffff) };
    case 'float32': return { dtype, shape, data: Float32Array.from(idx, (i) => i * 0.5 - 3.25) };
    case 'float64': return { dtype, shape, data: Float64Array.from(idx, (i) => Math.sin(i) * 1e300) };
    case 'int32': return { dtype, shape, data: Int32Array.from(idx, (i) => (i * 2654435761) | 0) };
    case 'int64': return { dtype, shape, data: BigInt64Array.from(idx, (i) => BigInt(i) * 9007199254740993n - 5n) };
    case 'uint8': return { dtype, shape, data: Uint8Array.from(idx, (i) => (i * 37) & 255) };
    case 'bool': return { dtype, shape, data: Uint8Array.from(idx, (i) => i % 3 === 0 ? 1 : 0) };
    case 'unicode': return { dtype, shape, data: idx.map((i) => `tâsk-${i}-𝔸`), itemChars: 12 };
  }
}

const DTYPES: NdArray['dtype'][] = ['float16', 'float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'unicode'];
const SHAPES = [[], [7], [2, 3, 1, 4]];

describe('npy codec', () => {
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      it(`round-trips ${dtype} with shape ${JSON.stringify(shape)}`, () => {
        const a = sample(dtype, shape);
        const b = decodeNpy(encodeNpy(a));
        expect(b.dtype).toBe(dtype);
        expect(b.shape).toEqual(shape);
        expect(Array.from(b.data as ArrayLike<unknown>)).toEqual(Array.from(a.data as ArrayLike<unknown>));
      });
    }
  }

  it('pads the header so data starts on a 64-byte boundary, as numpy does', () => {
    for (const shape of [[], [1], [32, 32, 1024, 128]]) {
      const h = encodeNpyHeader('float16', shape);
      expect(h.length % 64).toBe(0);
      expect(h[h.length - 1]).toBe(0x0a);
      expect(decodeNpyHeader(h).shape).toEqual(shape);
    }
  });

  it('parses headers written with double quotes, long suffixes and no trailing comma', () => {
    const text = '{"descr": "<i8", "fortran_order": False, "shape": (3L, 2L)}';
    const bytes = new Uint8Array(10 + text.length + 1);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(bytes.buffer).setUint16(8, text.length + 1, true);
    for (let i = 0; i < text.length; i++) bytes[10 + i] = text.charCodeAt(i);
    bytes[10 + text.length] = 0x0a;
    const h = decodeNpyHeader(bytes);
    expect(h.dtype).toBe('int64');
    expect(h.shape).toEqual([3, 2]);
  });

  it('rejects bad magic, bad headers, unknown dtypes and size mismatches with a clear error', () => {
    const good = encodeNpy(sample('float32', [4]));
    const badMagic = good.slice();
    badMagic[1] = 0x41;
    expect(() => decodeNpy(badMagic)).toThrow(/bad magic/);
    const truncated = good.slice(0, good.length - 3);
    expect(() => decodeNpy(truncated)).toThrow(/needs 16 data bytes, found 13/);
    const badHeader = good.slice();
    badHeader[10] = 0x5b; // '[' instead of '{'
    expect(() => decodeNpy(badHeader)).toThrow(NpyFormatError);
    const complex = good.slice();
    const text = new TextDecoder().decode(complex.subarray(10, 64)).replace("'<f4'", "'<c8'");
    complex.set(new TextEncoder().encode(text), 10);
    expect(() => decodeNpy(complex)).toThrow(/unsupported dtype <c8/);
    const bigEndian = good.slice();
    bigEndian.set(new TextEncoder().encode(new TextDecoder().decode(good.subarray(10, 64)).replace("'<f4'", "'>f4'")), 10);
    expect(() => decodeNpy(bigEndian)).toThrow(/big-endian/);
    expect(() => decodeNpy(new Uint8Array(4))).toThrow(/too short/);
  });

  it('refuses arrays whose data does not match the shape or dtype', () => {
    expect(() => encodeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) })).toThrow(/needs 3 elements/);
    expect(() => encodeNpy({ dtype: 'float16', shape: [2], data: new Float32Array(2) })).toThrow(/does not hold dtype float16/);
  });
});
