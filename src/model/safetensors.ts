/**
 * The safetensors container: an 8-byte little-endian header length, a JSON header
 * mapping each tensor name to {dtype, shape, data_offsets}, then the raw little-endian data.
 */

/** One tensor to store: raw little-endian bytes of `dtype` in row-major `shape`. */
export interface SafetensorsEntry {
  name: string;
  dtype: 'F32' | 'F16';
  shape: number[];
  data: Uint8Array;
}

/**
 * Serialise tensors (sorted by name so the bytes depend only on the content) into one
 * safetensors buffer; the header is space-padded to 8 bytes as the reference writer does.
 */
export function encodeSafetensors(entries: SafetensorsEntry[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of sorted) {
    const bytesPer = e.dtype === 'F32' ? 4 : 2;
    const expected = e.shape.reduce((a, b) => a * b, 1) * bytesPer;
    if (e.data.byteLength !== expected) throw new Error(`safetensors: ${e.name} holds ${e.data.byteLength} bytes, shape needs ${expected}`);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.byteLength] };
    offset += e.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const e of sorted) {
    out.set(e.data, at);
    at += e.data.byteLength;
  }
  return out;
}
