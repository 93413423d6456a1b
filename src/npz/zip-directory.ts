import type { FileHandle } from 'node:fs/promises';

/** One member of a zip archive as its central directory describes it. */
export interface ZipEntry {
  name: string;
  /** 0 = STORED (np.savez), 8 = DEFLATED (np.savez_compressed) */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new ZipFormatError('unexpected end of file: the archive is truncated');
    done += bytesRead;
  }
  return buf;
}

function u64(view: DataView, offset: number): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('zip64 value too large');
  return Number(v);
}

/**
 * Reads the central directory (zip64-aware) from the end of the file: a few KB of I/O however
 * large the archive. Throws ZipFormatError for a non-zip, truncated or inconsistent file.
 */
export async function readZipDirectory(fh: FileHandle, fileSize: number): Promise<ZipEntry[]> {
  if (fileSize < EOCD_MIN) throw new ZipFormatError('not a zip archive (file too small)');
  const tailLen = Math.min(fileSize, EOCD_MIN + MAX_COMMENT + 20);
  const tailStart = fileSize - tailLen;
  const tail = await readAt(fh, tailStart, tailLen);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let p = tailLen - EOCD_MIN; p >= 0; p--) {
    if (tv.getUint32(p, true) === SIG_EOCD && p + EOCD_MIN + tv.getUint16(p + 20, true) <= tailLen) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) {
    const head = await readAt(fh, 0, 4);
    if (new DataView(head.buffer).getUint32(0, true) === SIG_LOCAL) {
      throw new ZipFormatError('zip archive has no end-of-central-directory record (truncated or still being written)');
    }
    throw new ZipFormatError('not a zip archive (no end-of-central-directory record)');
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) {
      throw new ZipFormatError('zip64 end-of-central-directory locator missing');
    }
    const z64Offset = u64(tv, loc + 8);
    const rec = await readAt(fh, z64Offset, 56);
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new ZipFormatError('bad zip64 end-of-central-directory record');
    count = u64(rv, 32);
    cdSize = u64(rv, 40);
    cdOffset = u64(rv, 48);
  }
  if (cdOffset + cdSize > fileSize) throw new ZipFormatError('central directory lies past the end of the file (truncated)');
  const cd = await readAt(fh, cdOffset, cdSize);
  const cv = new DataView(cd.buffer);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== SIG_CENTRAL) throw new ZipFormatError(`bad central directory entry #${k}`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc32 = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressedSize = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw new ZipFormatError(`central directory entry #${k} overruns the directory`);
    const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
    // zip64 extra: the 64-bit values appear only for the fields saturated at 0xFFFFFFFF, in this order
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const size = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressedSize === 0xffffffff) { uncompressedSize = u64(cv, q); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(cv, q); q += 8; }
        if (localHeaderOffset === 0xffffffff) { localHeaderOffset = u64(cv, q); q += 8; }
      }
      e += 4 + size;
    }
    if (flags & 0x1) throw new ZipFormatError(`member ${name} is encrypted`);
    entries.push({ name, method, crc32, compressedSize, uncompressedSize, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** File offset where an entry's (possibly compressed) data starts, from its local header. */
export async function entryDataOffset(fh: FileHandle, entry: ZipEntry, fileSize: number): Promise<number> {
  if (entry.localHeaderOffset + 30 > fileSize) throw new ZipFormatError(`member ${entry.name}: local header past the end of the file (truncated)`);
  const lh = await readAt(fh, entry.localHeaderOffset, 30);
  const lv = new DataView(lh.buffer);
  if (lv.getUint32(0, true) !== SIG_LOCAL) throw new ZipFormatError(`member ${entry.name}: bad local header signature`);
  const start = entry.localHeaderOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (start + entry.compressedSize > fileSize) {
    throw new ZipFormatError(`member ${entry.name}: data runs past the end of the file (truncated)`);
  }
  return start;
}

export { readAt };
