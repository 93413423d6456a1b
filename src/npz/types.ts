/** numpy dtypes this project reads and writes ('<U' strings are 0-d only in the corpus). */
export type DType = 'float16' | 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool' | 'unicode';

/**
 * An n-d array in C order. float16 data is raw half bits (Uint16Array, Node 20 has no
 * Float16Array); int64 is BigInt64Array; bool is Uint8Array of 0/1; unicode is a string[]
 * (one element for a 0-d string) with `itemChars` the fixed width of the `<U` type.
 */
export type ArrayData =
  | Uint16Array
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | string[];

export interface NdArray {
  dtype: DType;
  shape: number[];
  data: ArrayData;
  /** for 'unicode' only: characters per element (the N of `<UN`) */
  itemChars?: number;
}

/** What an .npz directory says about one field, read without touching its data. */
export interface NpzFieldInfo {
  name: string;
  dtype: DType;
  shape: number[];
  itemChars?: number;
  /** bytes of array data (header excluded) */
  dataBytes: number;
  compressed: boolean;
}
