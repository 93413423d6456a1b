import type { ArrayData, DType } from './types.js';

/** How each supported dtype is spelled in an .npy header and laid out in memory. */
export interface DTypeSpec {
  dtype: DType;
  /** numpy descr for writing (little-endian, the only byte order we write) */
  descr: string;
  /** bytes per element; for 'unicode' bytes per character (UTF-32) */
  itemBytes: number;
}

const SPECS: Record<Exclude<DType, 'unicode'>, DTypeSpec> = {
  float16: { dtype: 'float16', descr: '<f2', itemBytes: 2 },
  float32: { dtype: 'float32', descr: '<f4', itemBytes: 4 },
  float64: { dtype: 'float64', descr: '<f8', itemBytes: 8 },
  int32: { dtype: 'int32', descr: '<i4', itemBytes: 4 },
  int64: { dtype: 'int64', descr: '<i8', itemBytes: 8 },
  uint8: { dtype: 'uint8', descr: '|u1', itemBytes: 1 },
  bool: { dtype: 'bool', descr: '|b1', itemBytes: 1 },
};

/** Little-endian or byte-order-free spellings numpy may write for each dtype. */
const DESCR_TO_DTYPE: Record<string, Exclude<DType, 'unicode'>> = {
  '<f2': 'float16', '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64',
  '|u1': 'uint8', '<u1': 'uint8', '|b1': 'bool', '<b1': 'bool',
};

export interface ParsedDescr {
  dtype: DType;
  itemBytes: number;
  /** for '<UN' */
  itemChars?: number;
}

/** Parses a numpy descr string; throws a readable error for anything this project does not read. */
export function parseDescr(descr: string): ParsedDescr {
  const known = DESCR_TO_DTYPE[descr];
  if (known) return { dtype: known, itemBytes: SPECS[known].itemBytes };
  const u = /^[<|]U(\d+)$/.exec(descr);
  if (u) {
    const chars = Number(u[1]);
    return { dtype: 'unicode', itemBytes: 4 * chars, itemChars: chars };
  }
  if (/^>/.test(descr)) throw new Error(`big-endian dtype ${descr} is not supported (re-save the array little-endian)`);
  throw new Error(`unsupported dtype ${descr} (supported: <f2 <f4 <f8 <i4 <i8 |u1 |b1 <U…)`);
}

export function descrOf(dtype: DType, itemChars?: number): string {
  if (dtype === 'unicode') return `<U${itemChars ?? 1}`;
  return SPECS[dtype].descr;
}

/** Bytes per element of `dtype` (for 'unicode', 4 x itemChars). */
export function itemBytesOf(dtype: DType, itemChars?: number): number {
  if (dtype === 'unicode') return 4 * (itemChars ?? 1);
  return SPECS[dtype].itemBytes;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** A typed array view over `bytes` (which must be aligned for the element size) for a numeric dtype. */
export function typedView(dtype: Exclude<DType, 'unicode'>, buffer: ArrayBuffer, byteOffset: number, length: number): Exclude<ArrayData, string[]> {
  switch (dtype) {
    case 'float16': return new Uint16Array(buffer, byteOffset, length);
    case 'float32': return new Float32Array(buffer, byteOffset, length);
    case 'float64': return new Float64Array(buffer, byteOffset, length);
    case 'int32': return new Int32Array(buffer, byteOffset, length);
    case 'int64': return new BigInt64Array(buffer, byteOffset, length);
    case 'uint8':
    case 'bool': return new Uint8Array(buffer, byteOffset, length);
  }
}

/** Checks that `data` is the typed array that holds `dtype` (raw half bits for float16). */
export function dataMatchesDtype(dtype: DType, data: ArrayData): boolean {
  switch (dtype) {
    case 'float16': return data instanceof Uint16Array;
    case 'float32': return data instanceof Float32Array;
    case 'float64': return data instanceof Float64Array;
    case 'int32': return data instanceof Int32Array;
    case 'int64': return data instanceof BigInt64Array;
    case 'uint8':
    case 'bool': return data instanceof Uint8Array;
    case 'unicode': return Array.isArray(data);
  }
}
