import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { DT, makeNode, valueInfo } from '../graph/onnx-graph.js';

/**
 * What onnxruntime's WebGPU provider finds on this machine. onnxruntime-node 1.30 exposes no
 * adapter information at all (`env.webgpu` is an empty object in Node, the provider options
 * name no adapter, and a device without shader-f16 only fails when a float16 kernel first
 * runs), so this is learned by running a one-node Cast-to-float16 graph on the provider.
 */
export interface WebGpuStatus {
  /** the provider could create a session (Dawn found an adapter) */
  adapter: boolean;
  /** the adapter runs float16 kernels (WebGPU feature shader-f16) */
  shaderF16: boolean;
  /** why not, in one line (empty when both hold) */
  detail: string;
}

/** One WebGPU adapter as Dawn lists it (see listWebGpuAdapters). */
export interface WebGpuAdapter {
  /** e.g. "NVIDIA GeForce RTX 4090" or "SwiftShader driver 5.0.0" */
  name: string;
  vendor: string;
  /** a CPU implementation (SwiftShader, llvmpipe, WARP): Dawn's fallback adapter */
  software: boolean;
  shaderF16: boolean;
}

/** The adapters Dawn offers, or why they could not be listed. */
export interface WebGpuAdapterList {
  adapters: WebGpuAdapter[];
  /** set when listing itself failed (no `webgpu` package for this platform, a crash, a timeout) */
  error?: string;
}

/** Children that talk to Dawn get this long: a software device needs a few seconds, a hung driver never returns. */
const PROBE_TIMEOUT_MS = 60_000;

let statusCache: Promise<WebGpuStatus> | undefined;
let adapterCache: Promise<WebGpuAdapterList> | undefined;

/**
 * Whether onnxruntime's WebGPU provider gets an adapter and whether it has shader-f16, probed
 * once per process in a child process (so Dawn's own stderr lines and a misbehaving driver
 * stay out of this one): a Cast-to-float16 session is created and run on the provider.
 */
export function probeWebGpu(): Promise<WebGpuStatus> {
  statusCache ??= runProbe();
  return statusCache;
}

/**
 * The WebGPU adapters of this machine with name, vendor, hardware or software and shader-f16,
 * listed once per process through Dawn's Node binding (the `webgpu` package) in a child
 * process: onnxruntime cannot name its adapter. The listing asks Dawn the way WebGPU does —
 * high-performance, low-power and the fallback adapter — and keeps the distinct ones.
 */
export function listWebGpuAdapters(): Promise<WebGpuAdapterList> {
  adapterCache ??= runAdapterListing();
  return adapterCache;
}

/** A one-node graph: Cast float32 → float16, the op the capture graph adds per captured field. */
export function castToHalfModel(): Uint8Array {
  const graph = create(GraphProtoSchema, {
    name: 'f16probe',
    node: [makeNode('Cast', ['x'], ['y'], 'f16probe/Cast', { to: DT.FLOAT16 })],
    input: [valueInfo('x', DT.FLOAT, ['n'])],
    output: [valueInfo('y', DT.FLOAT16, ['n'])],
  });
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, { irVersion: 8n, producerName: 'poc', graph, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })] }),
  );
}

async function runProbe(): Promise<WebGpuStatus> {
  const ortUrl = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  const model = Buffer.from(castToHalfModel()).toString('base64');
  // creation fails without an adapter; the run fails without shader-f16 (the kernel is compiled then)
  const code = `
    import * as ort from ${JSON.stringify(ortUrl)};
    const say = (o) => process.stdout.write('\\n' + JSON.stringify(o) + '\\n');
    let s;
    try {
      s = await ort.InferenceSession.create(Buffer.from(${JSON.stringify(model)}, 'base64'), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
    } catch (e) { say({ adapter: false, shaderF16: false, error: String(e && e.message || e) }); process.exit(0); }
    try {
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1.5), [1]) });
      const ok = out.y.data[0] === 0x3e00;
      say({ adapter: true, shaderF16: ok, error: ok ? '' : 'the float16 Cast returned ' + out.y.data[0] });
    } catch (e) { say({ adapter: true, shaderF16: false, error: String(e && e.message || e) }); }
    process.exit(0);
  `;
  const r = await runChild(code);
  if (!r.json) return { adapter: false, shaderF16: false, detail: `the WebGPU probe did not answer (${r.failure})` };
  const j = r.json as { adapter: boolean; shaderF16: boolean; error: string };
  return { adapter: j.adapter, shaderF16: j.shaderF16, detail: j.error ? webGpuReason(j.error) : '' };
}

async function runAdapterListing(): Promise<WebGpuAdapterList> {
  let dawnUrl: string;
  try {
    dawnUrl = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return { adapters: [], error: 'the `webgpu` package (Dawn for Node) is not installed' };
  }
  const code = `
    const { create } = await import(${JSON.stringify(dawnUrl)});
    const gpu = create([]);
    const seen = new Map();
    for (const opts of [{ powerPreference: 'high-performance' }, { powerPreference: 'low-power' }, { forceFallbackAdapter: true }]) {
      const a = await gpu.requestAdapter(opts);
      if (!a) continue;
      const i = a.info;
      const name = i.description || i.device || i.architecture || 'unnamed adapter';
      const key = [i.vendor, i.architecture, i.device, i.description].join('|');
      if (!seen.has(key)) seen.set(key, { name, vendor: i.vendor || 'unknown', software: !!i.isFallbackAdapter, shaderF16: a.features.has('shader-f16') });
    }
    process.stdout.write('\\n' + JSON.stringify({ adapters: [...seen.values()] }) + '\\n');
    process.exit(0);
  `;
  const r = await runChild(code);
  if (!r.json) return { adapters: [], error: `listing the adapters failed (${r.failure})` };
  const listed = r.json as WebGpuAdapterList;
  // Dawn says so on stderr only; without a loader no Vulkan driver can be seen at all
  if (listed.adapters.length === 0 && /Couldn't load Vulkan/.test(r.stderr)) {
    return { adapters: [], error: 'no Vulkan loader (libvulkan.so.1) on this machine; Debian: apt-get install libvulkan1 and the GPU driver' };
  }
  return listed;
}

/** Runs an ES module snippet in a fresh node and returns the JSON object on its last stdout line. */
function runChild(code: string): Promise<{ json?: unknown; failure: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ failure: e.message, stderr: err });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve({ json: JSON.parse(last), failure: '', stderr: err });
      } catch {
        const why = signal === 'SIGKILL' ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : `exit ${code ?? signal}`;
        const firstErr = err.split('\n').find((l) => l.trim() !== '' && !isDawnNoise(l)) ?? '';
        resolve({ failure: firstErr ? `${why}: ${firstErr.slice(0, 160)}` : why, stderr: err });
      }
    });
  });
}

/** Lines Dawn prints on its own that say nothing about the outcome. */
export function isDawnNoise(line: string): boolean {
  return /XDG_RUNTIME_DIR is invalid|Couldn't load Vulkan|^\s+at operator\(\)|^\s*$/.test(line);
}

/** The readable part of a WebGPU provider error: "Failed to get a WebGPU adapter: …" or the kernel's complaint. */
export function webGpuReason(message: string): string {
  const first = message.split('\n')[0]!;
  const adapter = first.indexOf('Failed to get a WebGPU adapter');
  if (adapter >= 0) return first.slice(adapter, adapter + 200);
  const f16 = /Program \S+ requires f16 but the device does not support it/.exec(first);
  if (f16) return f16[0];
  return first.slice(0, 200);
}
