/**
 * Checks one unit's data before any fitting and centres it: degenerate inputs (non-finite
 * values from float16 overflow, constant dimensions, too few distinct rows) become a
 * GmmDataError the caller can record for that unit, instead of NaN further down.
 */
import type { Matrix } from './types.js';

export type GmmDataProblem = 'non-finite' | 'constant-dimension' | 'too-few-samples' | 'too-few-distinct-rows' | 'bad-shape' | 'bad-parameters' | 'singular';

/** A unit that cannot be fitted; `problem` says why, the message says where. */
export class GmmDataError extends Error {
  override name = 'GmmDataError';
  constructor(readonly problem: GmmDataProblem, message: string) {
    super(message);
  }
}

export interface PreparedData {
  n: number;
  d: number;
  /** X minus its column means, float64 [n, d] row-major */
  centered: Float64Array;
  /** column means [d] (added back to fitted means) */
  mean: Float64Array;
  /** mean over dimensions of the per-dimension variance (ddof 0): the unit of regCovar */
  varianceScale: number;
}

/** What checkData learns about a valid X: its shape, column means and variance scale. */
export type CheckedData = Omit<PreparedData, 'centered'>;

/** Validates X and returns it centred; `minRows` is the fewest distinct rows the caller can fit. */
export function prepareData(X: Matrix, minRows = 2): PreparedData {
  const checked = checkData(X, minRows);
  const { n, d, mean } = checked;
  const centered = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) centered[i * d + j] = X.data[i * d + j] - mean[j];
  return { ...checked, centered };
}

/**
 * The checks of prepareData without the centred copy (for callers that centre into their own
 * buffers, e.g. the Student-t kernels); throws the same GmmDataError.
 */
export function checkData(X: Matrix, minRows = 2): CheckedData {
  const { rows: n, cols: d, data } = X;
  if (!(n >= 1 && d >= 1) || data.length !== n * d) {
    throw new GmmDataError('bad-shape', `data has ${data.length} values, expected rows ${n} x cols ${d}`);
  }
  // the column sums first: a non-finite value makes its column's sum non-finite, so the
  // element-wise scan for the error message runs only then (finite float64 values could also
  // overflow a sum: the scan then finds nothing and the check goes on as before); one pass
  // over the data fewer, and the sums are the same loop as before
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  let sumsFinite = true;
  for (let j = 0; j < d; j++) if (!Number.isFinite(mean[j])) sumsFinite = false;
  if (!sumsFinite) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new GmmDataError('non-finite', `data has a non-finite value (${data[i]}) at row ${Math.floor(i / d)}, column ${i % d}`);
      }
    }
  }
  if (n < minRows) throw new GmmDataError('too-few-samples', `data has ${n} rows, need at least ${minRows}`);
  for (let j = 0; j < d; j++) mean[j] /= n;
  const variance = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = data[i * d + j] - mean[j];
      variance[j] += v * v;
    }
  }
  let total = 0;
  for (let j = 0; j < d; j++) {
    variance[j] /= n;
    total += variance[j];
  }
  const varianceScale = total / d;
  for (let j = 0; j < d; j++) {
    // relative to the typical dimension: a float16 column that never changes is "constant"
    if (!(variance[j] > 1e-12 * varianceScale)) {
      throw new GmmDataError('constant-dimension', `dimension ${j} is constant (variance ${variance[j]}) over ${n} rows`);
    }
  }
  const distinct = countDistinctRows(data, n, d, minRows);
  if (distinct < minRows) {
    throw new GmmDataError('too-few-distinct-rows', `data has ${distinct} distinct rows, need at least ${minRows}`);
  }
  return { n, d, mean, varianceScale };
}

/** Counts distinct rows, stopping early once `enough` are found (hash of the bytes, then exact compare). */
function countDistinctRows(data: Float32Array | Float64Array, n: number, d: number, enough: number): number {
  const buckets = new Map<number, number[]>();
  let distinct = 0;
  for (let i = 0; i < n && distinct < enough; i++) {
    let h = 0x811c9dc5;
    for (let j = 0; j < d; j++) h = Math.imul(h ^ (Math.fround(data[i * d + j]) * 1e6 | 0), 0x01000193);
    const list = buckets.get(h);
    if (!list) {
      buckets.set(h, [i]);
      distinct++;
      continue;
    }
    const same = list.some((r) => {
      for (let j = 0; j < d; j++) if (data[r * d + j] !== data[i * d + j]) return false;
      return true;
    });
    if (!same) {
      list.push(i);
      distinct++;
    }
  }
  return distinct;
}
