import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * CRC-32 continued over `bytes`. Node 20's zlib.crc32 returns 0, dropping the running value,
 * for a view over a zero-length ArrayBuffer (an empty array's data), so empty input is a no-op here.
 */
export function crc32Update(bytes: Uint8Array, crc = 0): number {
  return bytes.byteLength === 0 ? crc : zlibCrc32(bytes, crc);
}
