import { descrOf, itemBytesOf, parseDescr } from './dtype.js';
import type { DType } from './types.js';

/** The .npy magic: \x93NUMPY. */
export const NPY_MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);

/** Longest prefix we read to find a header: numpy caps headers far below this in practice. */
export const NPY_HEADER_PROBE_BYTES = 65536;

export interface NpyHeader {
  dtype: DType;
  shape: number[];
  itemChars?: number;
  itemBytes: number;
  /** byte offset of the array data from the start of the .npy */
  dataOffset: number;
}

export class NpyFormatError extends Error {
  override name = 'NpyFormatError';
}

/**
 * Parses the .npy header at the start of `bytes` (which may hold only a prefix of the file).
 * Returns dtype, shape and where the data begins; throws NpyFormatError naming what is wrong.
 */
export function decodeNpyHeader(bytes: Uint8Array): NpyHeader {
  if (bytes.length < 10) throw new NpyFormatError('too short to be an .npy array');
  for (let i = 0; i < NPY_MAGIC.length; i++) {
    if (bytes[i] !== NPY_MAGIC[i]) throw new NpyFormatError('bad magic: not an .npy array');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyFormatError('truncated .npy header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.length) throw new NpyFormatError('truncated .npy header');
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const dict = parseHeaderDict(text);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') throw new NpyFormatError(`bad .npy header: descr missing or not a simple dtype (${text.trim()})`);
  if (typeof fortran !== 'boolean') throw new NpyFormatError('bad .npy header: fortran_order missing');
  if (!Array.isArray(shape)) throw new NpyFormatError('bad .npy header: shape missing');
  let parsed;
  try {
    parsed = parseDescr(descr);
  } catch (err) {
    throw new NpyFormatError((err as Error).message);
  }
  if (fortran && shape.length > 1) throw new NpyFormatError('fortran-ordered arrays are not supported (save with C order)');
  return { dtype: parsed.dtype, shape, itemChars: parsed.itemChars, itemBytes: parsed.itemBytes, dataOffset: start + headerLen };
}

type HeaderValue = string | boolean | number[];

/** A parser for the tiny Python-literal dict numpy writes; rejects anything else. */
function parseHeaderDict(text: string): Map<string, HeaderValue> {
  let i = 0;
  const out = new Map<string, HeaderValue>();
  const ws = () => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const fail = (what: string): never => { throw new NpyFormatError(`bad .npy header: ${what} at offset ${i} in ${JSON.stringify(text.trim())}`); };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') fail('expected a string');
    const end = text.indexOf(q!, i + 1);
    if (end < 0) fail('unterminated string');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): HeaderValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (text.startsWith('True', i)) { i += 4; return true; }
    if (text.startsWith('False', i)) { i += 5; return false; }
    if (c === '(') {
      i++;
      const dims: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ')') { i++; return dims; }
        const m = /^(\d+)L?/.exec(text.slice(i));
        if (!m) fail('expected a non-negative integer in shape');
        dims.push(Number(m![1]));
        i += m![0].length;
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ')') fail("expected ',' or ')' in shape");
      }
    }
    return fail('unsupported value');
  };
  ws();
  if (text[i] !== '{') fail("expected '{'");
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = str();
    ws();
    if (text[i] !== ':') fail("expected ':'");
    i++;
    out.set(key, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
  }
  return out;
}

/**
 * Encodes a version 1.0 header (2.0 when it would not fit), padded with spaces and a newline so
 * the data starts on a 64-byte boundary, exactly as numpy's write_array does.
 */
export function encodeNpyHeader(dtype: DType, shape: readonly number[], itemChars?: number): Uint8Array {
  const shapeText = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descrOf(dtype, itemChars)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const out = new Uint8Array(total);
  out.set(NPY_MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const body = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let k = 0; k < body.length; k++) out[prefix + k] = body.charCodeAt(k);
  return out;
}

/** Data bytes an array of this dtype and shape occupies. */
export function npyDataBytes(dtype: DType, shape: readonly number[], itemChars?: number): number {
  let n = itemBytesOf(dtype, itemChars);
  for (const s of shape) n *= s;
  return n;
}
