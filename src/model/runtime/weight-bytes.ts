import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { TensorProto_DataType as DT, type ModelProto } from 'onnx-buf';

/** Bytes per element of the initializer types exports use (int4 packs two per byte). */
const ELEM_BYTES: Partial<Record<number, number>> = {
  [DT.FLOAT]: 4, [DT.FLOAT16]: 2, [DT.BFLOAT16]: 2, [DT.DOUBLE]: 8,
  [DT.INT8]: 1, [DT.UINT8]: 1, [DT.INT16]: 2, [DT.UINT16]: 2, [DT.INT32]: 4, [DT.UINT32]: 4,
  [DT.INT64]: 8, [DT.UINT64]: 8, [DT.BOOL]: 1, [DT.INT4]: 0.5, [DT.UINT4]: 0.5,
};

/** Ops whose float16 weights onnxruntime's CPU provider computes in float32 (MLAS has no x86 fp16 GEMM). */
const GEMM_OPS = new Set(['MatMul', 'Gemm', 'FusedMatMul']);

/** What the weights of an export take in memory. */
export interface WeightBytes {
  /** bytes of every initializer as stored */
  stored: number;
  /** stored bytes plus the CPU provider's float32 working copies of float16 GEMM weights */
  cpuResident: number;
}

/**
 * The export's initializer bytes, and what onnxruntime's CPU provider holds for them: float16
 * weights of MatMul/Gemm are cast to float32 once at session creation (measured here: ~4 bytes
 * per float16 weight of Llama-3.1-8B's layer shapes, ≈ 1.0 GiB per layer), others as stored.
 */
export function weightBytes(model: ModelProto): WeightBytes {
  const graph = model.graph;
  let stored = 0;
  let cpuResident = 0;
  if (!graph) return { stored, cpuResident };
  const gemmWeights = new Set<string>();
  for (const n of graph.node) if (GEMM_OPS.has(n.opType)) for (const x of n.input) gemmWeights.add(x);
  for (const t of graph.initializer) {
    const count = t.dims.reduce((a, d) => a * Number(d), 1);
    const bytes = count * (ELEM_BYTES[t.dataType] ?? 4);
    stored += bytes;
    cpuResident += t.dataType === DT.FLOAT16 && gemmWeights.has(t.name) ? count * 4 : bytes;
  }
  return { stored, cpuResident };
}

/** Memory this process could still take: MemAvailable of /proc/meminfo (free + reclaimable cache), else os.freemem(). */
export function availableMemoryBytes(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return freemem();
}
