/**
 * The safetensors container: an 8-byte little-endian header length, a JSON header
 * mapping each tensor name to {dtype, shape, data_offsets}, then the raw little-endian data.
 */

/** One tensor to store: its element type and row-major shape (the bytes come later). */
export interface SafetensorsTensor {
  name: string;
  dtype: 'F32' | 'F16';
  shape: number[];
}

/** Where each tensor's bytes go in the file, so tensors can be written one at a time in any order. */
export interface SafetensorsLayout {
  /** the 8-byte length and the JSON header: the first bytes of the file */
  header: Uint8Array;
  /** absolute file offset and byte length of each tensor's data */
  places: Map<string, { offset: number; byteLength: number }>;
  /** size of the whole file */
  fileBytes: number;
}

/**
 * Lay out tensors (sorted by name, so the bytes depend only on the content) in one
 * safetensors file; the header is space-padded to 8 bytes as the reference writer does.
 */
export function safetensorsLayout(tensors: SafetensorsTensor[], metadata: Record<string, string> = { format: 'pt' }): SafetensorsLayout {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  const relative = new Map<string, { offset: number; byteLength: number }>();
  let offset = 0;
  for (const t of sorted) {
    const byteLength = t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F32' ? 4 : 2);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + byteLength] };
    relative.set(t.name, { offset, byteLength });
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const head = new Uint8Array(8 + jsonBytes.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  head.set(jsonBytes, 8);
  const places = new Map([...relative].map(([name, p]) => [name, { offset: head.length + p.offset, byteLength: p.byteLength }]));
  return { header: head, places, fileBytes: head.length + offset };
}
