export type { ArrayData, DType, NdArray, NpzFieldInfo } from './types.js';
export { halfToFloat32, float32ToHalf, floatToHalfBits } from './float16.js';
export { decodeNpy, encodeNpy } from './npy.js';
export { NpyFormatError } from './npy-header.js';
export { openNpz, NpzError, type NpzReader, type ReadOptions } from './npz-reader.js';
export { createNpzWriter, writeNpz, type NpzWriter, type FieldSink } from './npz-writer.js';
export { createAtomicFile, writeFileAtomic, PARTIAL_MARK, type AtomicFile } from './atomic-file.js';
