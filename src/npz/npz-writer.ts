import { crc32Update as crc32 } from './crc32.js';
import { createAtomicFile, type AtomicFile } from './atomic-file.js';
import { arrayDataBytes, checkNdArray, unicodeWidth } from './npy.js';
import { encodeNpyHeader, npyDataBytes } from './npy-header.js';
import type { DType, NdArray } from './types.js';

/**
 * Streams an .npz to disk the way np.savez lays it out (STORED members named `<field>.npy`),
 * with zip64 records only where a size, offset or count needs them. Each member's size is
 * known from its shape, so the local header is written up front and only its CRC is patched
 * in place afterwards: no data descriptors, nothing buffered beyond the caller's chunk.
 */
export interface NpzWriter {
  /** writes a whole in-memory array as one member */
  add(name: string, array: NdArray): Promise<void>;
  /** starts a member of known dtype and shape whose data bytes arrive in pieces, in C order */
  begin(name: string, dtype: Exclude<DType, 'unicode'>, shape: readonly number[]): Promise<FieldSink>;
  /** writes the central directory, fsyncs and renames the file into place */
  close(): Promise<{ bytesWritten: number }>;
  /** deletes the partial file; the final path is never touched */
  abort(): Promise<void>;
}

export interface FieldSink {
  write(chunk: ArrayBufferView): Promise<void>;
  /** appends `byteCount` zero bytes as a hole (sparse where the filesystem allows), CRC included */
  writeZeros(byteCount: number): Promise<void>;
  /** checks that exactly the announced number of bytes arrived */
  end(): Promise<void>;
}

interface CentralRecord {
  nameBytes: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

const U32_MAX = 0xffffffff;
const ZEROS = new Uint8Array(1 << 24);
// 1980-01-01 00:00: a fixed timestamp keeps identical inputs byte-identical
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

export async function createNpzWriter(finalPath: string): Promise<NpzWriter> {
  const file: AtomicFile = await createAtomicFile(finalPath);
  const records: CentralRecord[] = [];
  const names = new Set<string>();
  let position = 0;
  let busy = false;
  let finished = false;

  const writeAt = async (bytes: Uint8Array, at: number) => {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await file.fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30), at + done);
      done += bytesWritten;
    }
  };
  const append = async (bytes: Uint8Array) => {
    await writeAt(bytes, position);
    position += bytes.length;
  };

  const startMember = async (name: string, header: Uint8Array, dataBytes: number): Promise<FieldSink> => {
    if (finished) throw new Error('npz writer is closed');
    if (busy) throw new Error(`cannot start member ${name}: the previous member is not finished`);
    if (names.has(name)) throw new Error(`duplicate field ${name}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`field name "${name}" must be [A-Za-z0-9_.-]`);
    names.add(name);
    busy = true;
    const nameBytes = new TextEncoder().encode(`${name}.npy`);
    const size = header.length + dataBytes;
    const zip64 = size >= U32_MAX;
    const offset = position;
    const local = new Uint8Array(30 + nameBytes.length + (zip64 ? 20 : 0));
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, zip64 ? 45 : 20, true);
    lv.setUint16(6, 0, true);
    lv.setUint16(8, 0, true);
    lv.setUint16(10, DOS_TIME, true);
    lv.setUint16(12, DOS_DATE, true);
    lv.setUint32(14, 0, true); // CRC, patched when the member ends
    lv.setUint32(18, zip64 ? U32_MAX : size, true);
    lv.setUint32(22, zip64 ? U32_MAX : size, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, zip64 ? 20 : 0, true);
    local.set(nameBytes, 30);
    if (zip64) {
      const x = 30 + nameBytes.length;
      lv.setUint16(x, 0x0001, true);
      lv.setUint16(x + 2, 16, true);
      lv.setBigUint64(x + 4, BigInt(size), true);
      lv.setBigUint64(x + 12, BigInt(size), true);
    }
    await append(local);
    await append(header);
    let crc = crc32(header);
    let received = 0;
    return {
      async write(chunk) {
        const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (received + bytes.length > dataBytes) {
          throw new Error(`field ${name}: got more than the ${dataBytes} bytes its shape announces`);
        }
        crc = crc32(bytes, crc);
        await append(bytes);
        received += bytes.length;
      },
      async writeZeros(byteCount) {
        if (received + byteCount > dataBytes) {
          throw new Error(`field ${name}: got more than the ${dataBytes} bytes its shape announces`);
        }
        for (let left = byteCount; left > 0; ) {
          const n = Math.min(left, ZEROS.length);
          crc = crc32(ZEROS.subarray(0, n), crc);
          left -= n;
        }
        position += byteCount;
        received += byteCount;
        // the hole is materialised by the next write past it, or by the final size below
        await file.fh.truncate(position);
      },
      async end() {
        if (received !== dataBytes) throw new Error(`field ${name}: got ${received} of the ${dataBytes} bytes its shape announces`);
        const crcBytes = new Uint8Array(4);
        new DataView(crcBytes.buffer).setUint32(0, crc >>> 0, true);
        await writeAt(crcBytes, offset + 14);
        records.push({ nameBytes, crc: crc >>> 0, size, offset });
        busy = false;
      },
    };
  };

  return {
    async add(name, array) {
      checkNdArray(name, array);
      const itemChars = array.dtype === 'unicode' ? (array.itemChars ?? unicodeWidth(array.data as string[])) : undefined;
      const header = encodeNpyHeader(array.dtype, array.shape, itemChars);
      const data = arrayDataBytes({ ...array, itemChars });
      const sink = await startMember(name, header, data.length);
      await sink.write(data);
      await sink.end();
    },
    async begin(name, dtype, shape) {
      const header = encodeNpyHeader(dtype, shape);
      return startMember(name, header, npyDataBytes(dtype, shape));
    },
    async close() {
      if (busy) throw new Error('cannot close: a member is not finished');
      finished = true;
      const cdStart = position;
      for (const r of records) await append(centralEntry(r));
      const cdSize = position - cdStart;
      const needZip64 = records.length >= 0xffff || cdStart >= U32_MAX || cdSize >= U32_MAX;
      if (needZip64) {
        const z64At = position;
        const rec = new Uint8Array(56);
        const rv = new DataView(rec.buffer);
        rv.setUint32(0, 0x06064b50, true);
        rv.setBigUint64(4, 44n, true);
        rv.setUint16(12, (3 << 8) | 45, true);
        rv.setUint16(14, 45, true);
        rv.setBigUint64(24, BigInt(records.length), true);
        rv.setBigUint64(32, BigInt(records.length), true);
        rv.setBigUint64(40, BigInt(cdSize), true);
        rv.setBigUint64(48, BigInt(cdStart), true);
        await append(rec);
        const loc = new Uint8Array(20);
        const lcv = new DataView(loc.buffer);
        lcv.setUint32(0, 0x07064b50, true);
        lcv.setBigUint64(8, BigInt(z64At), true);
        lcv.setUint32(16, 1, true);
        await append(loc);
      }
      const eocd = new Uint8Array(22);
      const ev = new DataView(eocd.buffer);
      ev.setUint32(0, 0x06054b50, true);
      ev.setUint16(8, Math.min(records.length, 0xffff), true);
      ev.setUint16(10, Math.min(records.length, 0xffff), true);
      ev.setUint32(12, Math.min(cdSize, U32_MAX), true);
      ev.setUint32(16, Math.min(cdStart, U32_MAX), true);
      await append(eocd);
      await file.commit();
      return { bytesWritten: position };
    },
    async abort() {
      finished = true;
      await file.abort();
    },
  };
}

function centralEntry(r: CentralRecord): Uint8Array {
  const bigSize = r.size >= U32_MAX;
  const bigOffset = r.offset >= U32_MAX;
  const extraLen = bigSize || bigOffset ? 4 + (bigSize ? 16 : 0) + (bigOffset ? 8 : 0) : 0;
  const out = new Uint8Array(46 + r.nameBytes.length + extraLen);
  const v = new DataView(out.buffer);
  const needed = extraLen ? 45 : 20;
  v.setUint32(0, 0x02014b50, true);
  v.setUint16(4, (3 << 8) | needed, true); // made by: unix
  v.setUint16(6, needed, true);
  v.setUint16(8, 0, true);
  v.setUint16(10, 0, true);
  v.setUint16(12, DOS_TIME, true);
  v.setUint16(14, DOS_DATE, true);
  v.setUint32(16, r.crc, true);
  v.setUint32(20, bigSize ? U32_MAX : r.size, true);
  v.setUint32(24, bigSize ? U32_MAX : r.size, true);
  v.setUint16(28, r.nameBytes.length, true);
  v.setUint16(30, extraLen, true);
  v.setUint32(38, (0o100644 << 16) >>> 0, true); // a regular rw-r--r-- file, as unzip expects
  v.setUint32(42, bigOffset ? U32_MAX : r.offset, true);
  out.set(r.nameBytes, 46);
  if (extraLen) {
    let x = 46 + r.nameBytes.length;
    v.setUint16(x, 0x0001, true);
    v.setUint16(x + 2, extraLen - 4, true);
    x += 4;
    if (bigSize) {
      v.setBigUint64(x, BigInt(r.size), true);
      v.setBigUint64(x + 8, BigInt(r.size), true);
      x += 16;
    }
    if (bigOffset) v.setBigUint64(x, BigInt(r.offset), true);
  }
  return out;
}

/** Writes a whole .npz atomically from in-memory arrays (field order as given). */
export async function writeNpz(path: string, arrays: Record<string, NdArray>): Promise<{ bytesWritten: number }> {
  const w = await createNpzWriter(path);
  try {
    for (const [name, array] of Object.entries(arrays)) await w.add(name, array);
    return await w.close();
  } catch (err) {
    await w.abort();
    throw err;
  }
}
