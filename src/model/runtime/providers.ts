import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { DT, makeNode, valueInfo } from '../graph/onnx-graph.js';
import { probeWebGpu } from './webgpu.js';

/** What one execution provider does on this machine. */
export interface ProviderStatus {
  name: string;
  /** shipped inside onnxruntime-node (cpu, webgpu) rather than installed separately */
  bundled: boolean;
  loads: boolean;
  /** first line of the failure, or where the provider library is */
  detail: string;
}

/** The folder holding onnxruntime-node's native binding and provider libraries. */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** True when the CUDA provider library sits beside the binding (after `npm run setup:cuda`). */
export function cudaProviderInstalled(): boolean {
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(ortBinaryDir(), lib));
}

/** A one-node (Identity) model, to see whether a provider can create a session at all. */
function identityModel(): Uint8Array {
  const graph = create(GraphProtoSchema, {
    name: 'probe',
    node: [makeNode('Identity', ['x'], ['y'], 'probe/Identity')],
    input: [valueInfo('x', DT.FLOAT, [1])],
    output: [valueInfo('y', DT.FLOAT, [1])],
  });
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, { irVersion: 8n, producerName: 'poc', graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] }),
  );
}

/**
 * Try every backend onnxruntime-node knows. cuda and tensorrt are only attempted when their
 * library is installed (otherwise onnxruntime logs errors to stderr before failing).
 */
export async function probeProviders(): Promise<ProviderStatus[]> {
  const out: ProviderStatus[] = [];
  for (const { name, bundled } of ort.listSupportedBackends()) {
    if ((name === 'cuda' || name === 'tensorrt') && !cudaProviderInstalled()) {
      out.push({ name, bundled, loads: false, detail: 'provider library not installed' });
      continue;
    }
    if (name === 'webgpu') {
      // probed in a child process: Dawn prints its own lines and may stall on a broken driver
      const w = await probeWebGpu();
      out.push({ name, bundled, loads: w.adapter, detail: w.adapter ? 'ok' : w.detail });
      continue;
    }
    try {
      const s = await ort.InferenceSession.create(identityModel(), { executionProviders: [name], logSeverityLevel: 4 });
      await s.release();
      out.push({ name, bundled, loads: true, detail: 'ok' });
    } catch (e) {
      out.push({ name, bundled, loads: false, detail: failureReason(e) });
    }
  }
  return out;
}

/** The readable part of an onnxruntime error: from its last "Failed to …", first line only. */
export function failureReason(e: unknown): string {
  const text = String((e as Error)?.message ?? e).split('\n')[0]!;
  const at = text.lastIndexOf('Failed to');
  return (at >= 0 ? text.slice(at) : text).slice(0, 200);
}
