/**
 * Layout conversions between the host's sequence-major KV buffers [positions, H, D] and
 * the head-major [H, positions, D] tensors of exports whose fused attention ops take the
 * past in the export's own layout (see CACHE_IO).
 */

/** [past, H, D] rows of a sequence-major buffer as a new head-major [H, past, D] array. */
export function toHeadMajor(buf: Float32Array | Uint16Array, past: number, H: number, D: number): Float32Array | Uint16Array {
  const out = buf instanceof Float32Array ? new Float32Array(H * past * D) : new Uint16Array(H * past * D);
  for (let t = 0; t < past; t++) for (let h = 0; h < H; h++) out.set(buf.subarray((t * H + h) * D, (t * H + h + 1) * D) as never, (h * past + t) * D);
  return out;
}

/** Appends rows [start, start+n) of a head-major present [H, start+n, D] to a sequence-major buffer. */
export function appendHeadMajor(buf: Float32Array | Uint16Array, present: Float32Array | Uint16Array, start: number, n: number, H: number, D: number): void {
  const total = start + n;
  for (let h = 0; h < H; h++) for (let t = start; t < total; t++) buf.set(present.subarray((h * total + t) * D, (h * total + t + 1) * D) as never, (t * H + h) * D);
}
