import { open, type FileHandle } from 'node:fs/promises';
import { constants as zc, createInflateRaw, inflateRawSync } from 'node:zlib';
import { crc32Update as crc32 } from './crc32.js';
import { elementCount, typedView } from './dtype.js';
import { arrayFromDataBytes } from './npy.js';
import { decodeNpyHeader, NPY_HEADER_PROBE_BYTES, NpyFormatError, npyDataBytes, type NpyHeader } from './npy-header.js';
import type { NdArray, NpzFieldInfo } from './types.js';
import { entryDataOffset, readAt, readZipDirectory, ZipFormatError, type ZipEntry } from './zip-directory.js';

/** Any problem with the bytes of an .npz: the message names the file, the member and what is wrong. */
export class NpzError extends Error {
  override name = 'NpzError';
}

export interface ReadOptions {
  /** check the member's CRC-32 (default true; costs ~0.4 s per GB) */
  verifyCrc?: boolean;
}

/** An open .npz: its directory is parsed, no array data has been read. */
export interface NpzReader {
  readonly path: string;
  readonly fields: readonly NpzFieldInfo[];
  field(name: string): NpzFieldInfo | undefined;
  /** Reads one whole field; the other members are never touched. */
  read(name: string, options?: ReadOptions): Promise<NdArray>;
  /** Reads `count` consecutive slices along axis 0 starting at `start` (e.g. some layers of `queries`). */
  readAxis0(name: string, start: number, count: number): Promise<NdArray>;
  close(): Promise<void>;
}

interface Member {
  info: NpzFieldInfo;
  entry: ZipEntry;
  header: NpyHeader;
  /** file offset of the member's stored/compressed bytes */
  dataStart: number;
  /** the .npy header bytes (kept for the CRC, which covers header + data) */
  headerBytes: Uint8Array;
}

/** Opens an .npz (np.savez or np.savez_compressed, zip64 or not) and reads its directory and .npy headers. */
export async function openNpz(path: string): Promise<NpzReader> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NpzError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot open (${code ?? (err as Error).message})`);
  }
  try {
    const size = (await fh.stat()).size;
    const entries = await readZipDirectory(fh, size);
    const members = new Map<string, Member>();
    for (const entry of entries) {
      if (!entry.name.endsWith('.npy')) continue;
      const name = entry.name.slice(0, -4);
      if (entry.method !== 0 && entry.method !== 8) {
        throw new NpzError(`${path}: member ${entry.name} uses zip method ${entry.method} (only stored and deflated are read)`);
      }
      const dataStart = await entryDataOffset(fh, entry, size);
      const probe = await readHeaderPrefix(fh, entry, dataStart);
      let header: NpyHeader;
      try {
        header = decodeNpyHeader(probe);
      } catch (err) {
        throw new NpzError(`${path}: member ${entry.name}: ${(err as Error).message}`);
      }
      const dataBytes = npyDataBytes(header.dtype, header.shape, header.itemChars);
      if (header.dataOffset + dataBytes !== entry.uncompressedSize) {
        throw new NpzError(
          `${path}: member ${entry.name}: shape ${JSON.stringify(header.shape)} of ${header.dtype} needs ${dataBytes} bytes but the member holds ${entry.uncompressedSize - header.dataOffset}`,
        );
      }
      const info: NpzFieldInfo = {
        name, dtype: header.dtype, shape: header.shape, itemChars: header.itemChars, dataBytes, compressed: entry.method === 8,
      };
      members.set(name, { info, entry, header, dataStart, headerBytes: probe.slice(0, header.dataOffset) });
    }
    return makeReader(path, fh, members);
  } catch (err) {
    await fh.close();
    if (err instanceof ZipFormatError || err instanceof NpyFormatError) throw new NpzError(`${path}: ${err.message}`);
    throw err;
  }
}

async function readHeaderPrefix(fh: FileHandle, entry: ZipEntry, dataStart: number): Promise<Uint8Array> {
  if (entry.method === 0) {
    return readAt(fh, dataStart, Math.min(entry.compressedSize, NPY_HEADER_PROBE_BYTES));
  }
  const compressed = await readAt(fh, dataStart, Math.min(entry.compressedSize, NPY_HEADER_PROBE_BYTES));
  // a sync flush inflates what a prefix of the stream holds without demanding its end
  try {
    const out = inflateRawSync(compressed, { finishFlush: zc.Z_SYNC_FLUSH });
    return new Uint8Array(out.buffer, out.byteOffset, Math.min(out.length, NPY_HEADER_PROBE_BYTES));
  } catch (err) {
    throw new ZipFormatError(`member ${entry.name}: corrupt deflate data (${(err as Error).message})`);
  }
}

function makeReader(path: string, fh: FileHandle, members: Map<string, Member>): NpzReader {
  const fields = [...members.values()].map((m) => m.info);
  const get = (name: string): Member => {
    const m = members.get(name);
    if (!m) throw new NpzError(`${path}: no field "${name}" (fields: ${fields.map((f) => f.name).join(', ') || 'none'})`);
    return m;
  };
  let closed = false;
  return {
    path,
    fields,
    field: (name) => members.get(name)?.info,
    async read(name, options = {}) {
      const m = get(name);
      const bytes = allocAligned(m.info.dataBytes);
      if (m.entry.method === 0) await readStored(fh, m, bytes, path);
      else await inflateInto(fh, m, bytes, path);
      if (options.verifyCrc !== false) {
        const crc = crc32(bytes, crc32(m.headerBytes));
        if (crc !== m.entry.crc32) throw new NpzError(`${path}: member ${m.entry.name}: CRC-32 mismatch (the file is corrupt)`);
      }
      return wrap(m, m.header.shape, bytes);
    },
    async readAxis0(name, start, count) {
      const m = get(name);
      const shape = m.info.shape;
      if (shape.length === 0) throw new NpzError(`${path}: field ${name} is 0-d; it has no axis 0`);
      if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= shape[0]!)) {
        throw new NpzError(`${path}: field ${name}: axis-0 range [${start}, ${start + count}) is outside [0, ${shape[0]})`);
      }
      const sliceBytes = m.info.dataBytes / Math.max(shape[0]!, 1);
      const bytes = allocAligned(sliceBytes * count);
      if (m.entry.method === 0) {
        await readFully(fh, bytes, m.dataStart + m.header.dataOffset + start * sliceBytes, path);
      } else {
        await inflateInto(fh, m, bytes, path, m.header.dataOffset + start * sliceBytes);
      }
      return wrap(m, [count, ...shape.slice(1)], bytes);
    },
    async close() {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    },
  };
}

/** A buffer whose start is 8-byte aligned, so any typed array can view it without a copy. */
function allocAligned(bytes: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(bytes));
}

function wrap(m: Member, shape: number[], bytes: Uint8Array): NdArray {
  if (m.info.dtype === 'unicode') return arrayFromDataBytes('unicode', shape, m.info.itemChars, bytes);
  return { dtype: m.info.dtype, shape, data: typedView(m.info.dtype, bytes.buffer as ArrayBuffer, 0, elementCount(shape)) };
}

const MAX_READ = 1 << 30;

async function readFully(fh: FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, Math.min(MAX_READ, into.length - done), position + done);
    if (bytesRead === 0) throw new NpzError(`${path}: unexpected end of file (truncated)`);
    done += bytesRead;
  }
}

async function readStored(fh: FileHandle, m: Member, into: Uint8Array, path: string): Promise<void> {
  await readFully(fh, into, m.dataStart + m.header.dataOffset, path);
}

/** Inflates a deflated member, skipping `skip` bytes of its .npy stream and filling `into` (streamed, never whole in memory). */
async function inflateInto(fh: FileHandle, m: Member, into: Uint8Array, path: string, skip = m.header.dataOffset): Promise<void> {
  if (into.length === 0) return;
  const inflater = createInflateRaw();
  let seen = 0; // bytes of the .npy stream produced so far
  let filled = 0;
  let failure: Error | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    inflater.on('data', (chunk: Buffer) => {
      const from = Math.max(0, skip - seen);
      seen += chunk.length;
      if (from >= chunk.length || filled >= into.length) return;
      const part = chunk.subarray(from, from + (into.length - filled));
      into.set(part, filled);
      filled += part.length;
      if (filled >= into.length) resolve();
    });
    inflater.on('end', () => (filled >= into.length ? resolve() : reject(new NpzError(`${path}: member ${m.entry.name}: deflate stream ended early (truncated)`))));
    inflater.on('error', (err) => {
      failure = new NpzError(`${path}: member ${m.entry.name}: corrupt deflate data (${err.message})`);
      reject(failure);
    });
  });
  finished.catch(() => undefined); // observed below; keeps an early rejection from going unhandled
  const end = m.dataStart + m.entry.compressedSize;
  for (let pos = m.dataStart; pos < end && filled < into.length && !failure; ) {
    const n = Math.min(1 << 20, end - pos);
    // a fresh buffer per chunk: the inflater may still hold the previous one
    const chunk = Buffer.allocUnsafe(n);
    await readFully(fh, chunk, pos, path);
    pos += n;
    if (!inflater.write(chunk)) await new Promise<void>((r) => inflater.once('drain', r).once('error', () => r()));
  }
  if (filled < into.length && !failure) inflater.end();
  try {
    await finished;
  } finally {
    inflater.destroy();
  }
}
