import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { InterruptedError } from '../../errors.js';
import type { Progress } from '../../hub/progress.js';
import { createRng } from '../../util/rng.js';
import type { DataSlot } from '../graph/onnx-graph.js';
import { safetensorsLayout } from './safetensors.js';
import { drawWeightInto, elementCount, type WeightDtype, type WeightElements, type WeightSpec } from './tiny-weights.js';

/**
 * Writes the two weight files of a model folder — model.safetensors and the ONNX external
 * data file — one tensor at a time. Each weight is drawn once (in spec order, from one
 * generator, so the numbers depend only on the seed), written to its place in both files by
 * positional writes, and dropped; only a weight that a packed ONNX tensor (genai's q|k|v)
 * still waits for is kept. Host memory is therefore one weight (a reused scratch buffer the
 * size of the largest), the packed parts of one layer, and a 16 MiB transpose block —
 * never the model (the old builder held every weight as float32, their float16 copies, the
 * transposed copies and both files' bytes at once: ≈ 5.5 bytes of RAM per byte written).
 */
export interface WeightFilesPlan {
  specs: WeightSpec[];
  seed: number;
  dtype: WeightDtype;
  safetensorsPath: string;
  /** the ONNX external data file, its tensors and its size (from the export builder) */
  dataPath: string;
  slots: DataSlot[];
  dataBytes: number;
  progress?: Progress;
  /** checked between tensors: an aborted build stops there (the caller removes the partial files) */
  signal?: AbortSignal;
}

/** Bytes the transpose of one tensor moves per write. */
const TRANSPOSE_BLOCK_BYTES = 16 * 2 ** 20;

/** Total bytes the plan writes (both files), for progress bars. */
export function weightFilesBytes(plan: Pick<WeightFilesPlan, 'specs' | 'dtype' | 'dataBytes'>): number {
  const elem = plan.dtype === 'float16' ? 2 : 4;
  return plan.specs.reduce((a, s) => a + elementCount(s.shape) * elem, 0) + plan.dataBytes;
}

/**
 * Draw every weight of `plan.specs` and write both files (created or truncated). Yields to
 * the event loop between tensors, so Ctrl-C (through `plan.signal`) is seen within one tensor.
 */
export async function writeWeightFiles(plan: WeightFilesPlan): Promise<void> {
  const elem = plan.dtype === 'float16' ? 2 : 4;
  const layout = safetensorsLayout(plan.specs.map((s) => ({ name: s.name, dtype: plan.dtype === 'float16' ? 'F16' : 'F32', shape: s.shape })));
  const shapes = new Map(plan.specs.map((s) => [s.name, s.shape]));
  // how many not-yet-written slots still need each weight, and the slots of each weight
  const pendingUses = new Map<string, number>();
  const slotsOf = new Map<string, DataSlot[]>();
  for (const slot of plan.slots) {
    if (slot.source.kind !== 'hf') continue;
    for (const name of slot.source.names) {
      if (!shapes.has(name)) throw new Error(`export references weight ${name}, which is not drawn`);
      pendingUses.set(name, (pendingUses.get(name) ?? 0) + 1);
      slotsOf.set(name, [...(slotsOf.get(name) ?? []), slot]);
    }
  }
  const largest = Math.max(...plan.specs.map((s) => elementCount(s.shape)));
  const scratch: WeightElements = plan.dtype === 'float16' ? new Uint16Array(largest) : new Float32Array(largest);
  const held = new Map<string, WeightElements>();
  const st = openSync(plan.safetensorsPath, 'w');
  const data = openSync(plan.dataPath, 'w');
  try {
    writeAll(st, layout.header, 0);
    ftruncateSync(data, plan.dataBytes); // alignment gaps read as zeros
    for (const slot of plan.slots) {
      if (slot.source.kind === 'bytes') writeAll(data, slot.source.data, slot.offset);
    }
    const rng = createRng(plan.seed);
    for (const spec of plan.specs) {
      await new Promise((resolve) => setImmediate(resolve));
      if (plan.signal?.aborted) throw new InterruptedError('make-tiny-model stopped; no files were left behind');
      const values = drawWeightInto(spec, rng, plan.dtype, scratch);
      const place = layout.places.get(spec.name)!;
      writeAll(st, bytesOf(values), place.offset);
      plan.progress?.advance(place.byteLength);
      if (!pendingUses.has(spec.name)) continue;
      held.set(spec.name, values);
      for (const slot of slotsOf.get(spec.name)!) {
        const names = (slot.source as { names: string[] }).names;
        if (!names.every((n) => held.has(n))) continue;
        writeSlot(data, slot, names.map((n) => ({ values: held.get(n)!, rows: shapes.get(n)![0]! })), elem);
        plan.progress?.advance(slot.byteLength);
        for (const n of names) pendingUses.set(n, pendingUses.get(n)! - 1);
      }
      // a weight another slot still waits for leaves the scratch buffer before the next draw
      for (const [name, values] of held) {
        if (pendingUses.get(name) === 0) held.delete(name);
        else if (values.buffer === scratch.buffer) held.set(name, values.slice());
      }
    }
    if (held.size > 0) throw new Error(`export slots never completed: ${[...held.keys()].join(', ')}`);
  } finally {
    closeSync(st);
    closeSync(data);
  }
}

/**
 * Write one ONNX tensor: the parts ([rows_i, cols] each, row-major) stacked along rows,
 * stored as they are or transposed to [cols, Σ rows_i] (torch's MatMul weight layout),
 * the transpose in blocks of whole output rows.
 */
function writeSlot(fd: number, slot: DataSlot, parts: Array<{ values: WeightElements; rows: number }>, elem: number): void {
  const source = slot.source as { transpose: boolean };
  if (!source.transpose) {
    let at = slot.offset;
    for (const p of parts) at += writeAll(fd, bytesOf(p.values), at);
    return;
  }
  const totalRows = parts.reduce((a, p) => a + p.rows, 0);
  const cols = parts[0]!.values.length / parts[0]!.rows;
  const blockCols = Math.max(1, Math.floor(TRANSPOSE_BLOCK_BYTES / (totalRows * elem)));
  // move raw bits (Uint16/Uint32) so float values, NaN payloads included, are copied exactly
  const view = (x: WeightElements) => (elem === 2 ? (x as Uint16Array) : new Uint32Array(x.buffer, x.byteOffset, x.length));
  const block = elem === 2 ? new Uint16Array(blockCols * totalRows) : new Uint32Array(blockCols * totalRows);
  for (let c0 = 0; c0 < cols; c0 += blockCols) {
    const c1 = Math.min(cols, c0 + blockCols);
    let rowOffset = 0;
    for (const p of parts) {
      const src = view(p.values);
      for (let r = 0; r < p.rows; r++) {
        const base = r * cols;
        const dst = rowOffset + r;
        for (let c = c0; c < c1; c++) block[(c - c0) * totalRows + dst] = src[base + c]!;
      }
      rowOffset += p.rows;
    }
    const n = (c1 - c0) * totalRows;
    writeAll(fd, new Uint8Array(block.buffer, 0, n * elem), slot.offset + c0 * totalRows * elem);
  }
}

function bytesOf(x: WeightElements): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** writeSync until every byte is written at `position`; returns the byte count. */
function writeAll(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.byteLength) {
    // one write call takes at most 2 GiB - 1 on Linux; stay well below
    const n = writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 2 ** 30), position + done);
    done += n;
  }
  return done;
}
