import { dataMatchesDtype, elementCount, typedView } from './dtype.js';
import { decodeNpyHeader, encodeNpyHeader, NpyFormatError, npyDataBytes } from './npy-header.js';
import type { NdArray } from './types.js';

/** Throws if `array`'s data does not hold exactly shape's element count of its dtype. */
export function checkNdArray(name: string, array: NdArray): void {
  if (!array.shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new Error(`${name}: shape ${JSON.stringify(array.shape)} must be non-negative integers`);
  }
  if (!dataMatchesDtype(array.dtype, array.data)) {
    throw new Error(`${name}: data is a ${array.data.constructor.name}, which does not hold dtype ${array.dtype}`);
  }
  const n = elementCount(array.shape);
  if (array.data.length !== n) {
    throw new Error(`${name}: shape ${JSON.stringify(array.shape)} needs ${n} elements, data has ${array.data.length}`);
  }
}

/** Character width numpy would pick for these strings (`<UN`, N >= 1). */
export function unicodeWidth(strings: readonly string[]): number {
  let w = 1;
  for (const s of strings) w = Math.max(w, [...s].length);
  return w;
}

/** The raw little-endian bytes of an array's data, as numpy lays them out (a view when possible). */
export function arrayDataBytes(array: NdArray): Uint8Array {
  if (array.dtype === 'unicode') {
    const strings = array.data as string[];
    const chars = array.itemChars ?? unicodeWidth(strings);
    const out = new Uint8Array(strings.length * chars * 4);
    const view = new DataView(out.buffer);
    strings.forEach((s, k) => {
      const cps = [...s].map((c) => c.codePointAt(0)!);
      if (cps.length > chars) throw new Error(`string of ${cps.length} characters does not fit <U${chars}`);
      cps.forEach((cp, j) => view.setUint32((k * chars + j) * 4, cp, true));
    });
    return out;
  }
  const data = array.data as Exclude<NdArray['data'], string[]>;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A complete .npy (header + data) in memory; for small arrays and tests. */
export function encodeNpy(array: NdArray): Uint8Array {
  checkNdArray('array', array);
  const itemChars = array.dtype === 'unicode' ? (array.itemChars ?? unicodeWidth(array.data as string[])) : undefined;
  const header = encodeNpyHeader(array.dtype, array.shape, itemChars);
  const data = arrayDataBytes({ ...array, itemChars });
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

/** Decodes a complete .npy held in memory; throws NpyFormatError on a bad header or a size mismatch. */
export function decodeNpy(bytes: Uint8Array): NdArray {
  const header = decodeNpyHeader(bytes);
  const need = npyDataBytes(header.dtype, header.shape, header.itemChars);
  const have = bytes.length - header.dataOffset;
  if (have !== need) {
    throw new NpyFormatError(`shape ${JSON.stringify(header.shape)} of ${header.dtype} needs ${need} data bytes, found ${have}`);
  }
  return arrayFromDataBytes(header.dtype, header.shape, header.itemChars, bytes.subarray(header.dataOffset));
}

/** Wraps data bytes as an NdArray; copies only when the bytes are misaligned for the element size. */
export function arrayFromDataBytes(dtype: NdArray['dtype'], shape: number[], itemChars: number | undefined, bytes: Uint8Array): NdArray {
  const n = elementCount(shape);
  if (dtype === 'unicode') {
    const chars = itemChars ?? 1;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const strings: string[] = [];
    for (let k = 0; k < n; k++) {
      let s = '';
      for (let j = 0; j < chars; j++) {
        const cp = view.getUint32((k * chars + j) * 4, true);
        if (cp === 0) break; // numpy pads with NULs and strips them on load
        s += String.fromCodePoint(cp);
      }
      strings.push(s);
    }
    return { dtype, shape, data: strings, itemChars: chars };
  }
  const itemBytes = bytes.byteLength / Math.max(n, 1);
  let buf = bytes;
  if (n > 0 && bytes.byteOffset % itemBytes !== 0) buf = bytes.slice();
  const data = typedView(dtype, buf.buffer as ArrayBuffer, buf.byteOffset, n);
  return { dtype, shape, data };
}
