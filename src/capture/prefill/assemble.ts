/**
 * The corpus arrays of one prompt, filled chunk by chunk as rows come out of the capture
 * graph. Allocated once at their final size (the size of one output file), in the
 * contract's layouts.
 */
export interface CaptureBuffers {
  /** [n_layers, T_sub, hidden_size] half bits */
  hidden: Uint16Array;
  /** [n_layers, n_q_heads, T_sub, head_dim] half bits */
  queries: Uint16Array;
  /** [n_layers, n_kv_heads, T_sub, head_dim] half bits, with keys only */
  keys?: Uint16Array;
  /** [n_layers, n_kv_heads, T_sub, head_dim] half bits, with values only */
  values?: Uint16Array;
}

export interface CaptureGeometry {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  hiddenSize: number;
}

export function allocateCaptureBuffers(g: CaptureGeometry, tSub: number, withKeys: boolean, withValues = false): CaptureBuffers {
  const kv = () => new Uint16Array(g.nLayers * g.nKvHeads * tSub * g.headDim);
  return {
    hidden: new Uint16Array(g.nLayers * tSub * g.hiddenSize),
    queries: new Uint16Array(g.nLayers * g.nHeads * tSub * g.headDim),
    keys: withKeys ? kv() : undefined,
    values: withValues ? kv() : undefined,
  };
}

/**
 * Copies one chunk's gathered rows into rows [firstRow, firstRow + P) of the buffers.
 * `hiddenRows` is [L, P, hidden], `queryRows` [L, P, n_heads*head_dim] (heads side by side,
 * as q_proj lays them out), `keyRows` [L, n_kv, P, head_dim], `valueRows` [L, P, n_kv*head_dim]
 * (as v_proj lays them out).
 */
export function placeChunkRows(
  buffers: CaptureBuffers,
  g: CaptureGeometry,
  tSub: number,
  firstRow: number,
  rowCount: number,
  hiddenRows: Uint16Array,
  queryRows: Uint16Array,
  keyRows?: Uint16Array,
  valueRows?: Uint16Array,
): void {
  const P = rowCount;
  const { nLayers: L, nHeads: Hq, nKvHeads: Hkv, headDim: D, hiddenSize: H } = g;
  if (hiddenRows.length !== L * P * H) throw new RangeError(`hidden rows: expected ${L * P * H} values, got ${hiddenRows.length}`);
  if (queryRows.length !== L * P * Hq * D) throw new RangeError(`query rows: expected ${L * P * Hq * D} values, got ${queryRows.length}`);
  for (let l = 0; l < L; l++) {
    buffers.hidden.set(hiddenRows.subarray(l * P * H, (l + 1) * P * H), (l * tSub + firstRow) * H);
  }
  placeHeadRows(buffers.queries, queryRows, L, Hq, D, tSub, firstRow, P);
  if (buffers.keys) {
    if (!keyRows || keyRows.length !== L * Hkv * P * D) throw new RangeError(`key rows: expected ${L * Hkv * P * D} values, got ${keyRows?.length ?? 0}`);
    for (let l = 0; l < L; l++) {
      for (let k = 0; k < Hkv; k++) {
        const src = (l * Hkv + k) * P * D;
        buffers.keys.set(keyRows.subarray(src, src + P * D), ((l * Hkv + k) * tSub + firstRow) * D);
      }
    }
  }
  if (buffers.values) {
    if (!valueRows || valueRows.length !== L * P * Hkv * D) throw new RangeError(`value rows: expected ${L * P * Hkv * D} values, got ${valueRows?.length ?? 0}`);
    placeHeadRows(buffers.values, valueRows, L, Hkv, D, tSub, firstRow, P);
  }
}

/** Rows [L, P, heads*D] (heads side by side) into rows [firstRow, firstRow + P) of `dst` [L, heads, tSub, D]. */
function placeHeadRows(dst: Uint16Array, rows: Uint16Array, L: number, heads: number, D: number, tSub: number, firstRow: number, P: number): void {
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < heads; h++) {
      const at = ((l * heads + h) * tSub + firstRow) * D;
      for (let p = 0; p < P; p++) {
        const src = (l * P + p) * heads * D + h * D;
        dst.set(rows.subarray(src, src + D), at + p * D);
      }
    }
  }
}
