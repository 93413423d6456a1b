import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { readFileSync } from 'node:fs';
import { rowsAsHalf } from '../../src/model/runtime/captured-rows.js';
import { ensureCaptureGraph } from '../../src/model/graph/capture-graph.js';
import { ensureLayerGraphs } from '../../src/model/graph/layer-graphs.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { DT } from '../../src/model/graph/onnx-graph.js';
import { castToHalfModel } from '../../src/model/runtime/webgpu.js';
import { closeCaptureSession, createCaptureSession } from '../../src/model/runtime/session.js';
import { closeLayerSession, createLayerSession } from '../../src/model/runtime/layer-session.js';
import { closeLoopSession, createLoopSession } from '../../src/model/runtime/loop-session.js';
import { prefillCapture } from '../../src/capture/prefill/chunks.js';
import { prefillByLayers } from '../../src/capture/prefill/layer-by-layer.js';
import { runLoopPrefill } from '../../src/model/runtime/loop-session.js';
import { UserError } from '../../src/errors.js';
import { requirePython, runPython } from '../helpers/python.js';

// float32 bit patterns of the cases where rounding to float16 is easiest to get wrong
const u = (bits: number) => new Float32Array(Uint32Array.of(bits >>> 0).buffer)[0]!;
const EDGE_CASES: number[] = [
  0, -0, 1, -1,
  1 + 2 ** -11, // a tie between 1 and 1 + 2^-10: to even (1)
  1 + 3 * 2 ** -11, // a tie: to even (1 + 2^-9)
  1 + 2 ** -11 + 2 ** -23, // just above the tie: up
  -(1 + 3 * 2 ** -11),
  2047.5, 2048 + 1, 2048 + 3, // ties where the half ulp is 1 and 2
  65504, 65519.99, 65520, 65536, 1e6, -1e6, // largest half, just below the overflow tie, the tie (→ Inf), beyond
  2 ** -14, 2 ** -14 - 2 ** -25, // smallest normal, and a value that rounds up to it
  2 ** -24, 0.5 * 2 ** -24, 1.5 * 2 ** -24, 2.5 * 2 ** -24, 0.75 * 2 ** -24, 0.25 * 2 ** -24, // subnormal ties and underflow
  -(1.5 * 2 ** -24), 3 * 2 ** -25 + 2 ** -40, 1023.5 * 2 ** -24, 1023.75 * 2 ** -24, // subnormal to normal carry
  1e-8, -1e-8, 1e-30,
  Infinity, -Infinity,
  u(0x7fc00000), // the quiet NaN every float op produces
  u(0xffc00000), // negative NaN
  u(0x00000001), u(0x807fffff), // float32 subnormals: to ±0
  Math.PI, -Math.E, 0.1, 3.3333333,
];

describe('rounding captured rows on the host', () => {
  it('rounds float32 to float16 bits as numpy does and as the in-graph Cast of the CPU provider does (ties to even, subnormals, overflow to Inf, NaN)', async () => {
    requirePython();
    const values = Float32Array.from(EDGE_CASES);
    const ours = rowsAsHalf(new ort.Tensor('float32', values, [values.length]), 'edge cases');
    const numpy = runPython(
      'import numpy as np,sys; a=np.frombuffer(bytes.fromhex(sys.stdin.read()),dtype=np.float32); sys.stdout.write(a.astype(np.float16).view(np.uint16).tobytes().hex())',
      [],
      { input: Buffer.from(values.buffer).toString('hex') },
    );
    const ref = new Uint16Array(Uint8Array.from(Buffer.from(numpy, 'hex')).buffer);
    // onnxruntime's CPU Cast: what the capture graph writes on the CPU and CUDA
    const session = await ort.InferenceSession.create(castToHalfModel(), { executionProviders: ['cpu'] });
    const cast = (await session.run({ x: new ort.Tensor('float32', values, [values.length]) })).y!.data as Uint16Array;
    await session.release();
    const hex = (a: ArrayLike<number>) => Array.from(a, (b) => b.toString(16).padStart(4, '0'));
    expect(hex(ours)).toEqual(hex(ref));
    expect(hex(ours)).toEqual(hex(cast));
    // the cases do what they say: ties to even, overflow to Inf, subnormals kept
    expect(ours[EDGE_CASES.indexOf(1 + 2 ** -11)]).toBe(0x3c00);
    expect(ours[EDGE_CASES.indexOf(1 + 3 * 2 ** -11)]).toBe(0x3c02);
    expect(ours[EDGE_CASES.indexOf(65520)]).toBe(0x7c00);
    expect(ours[EDGE_CASES.indexOf(1.5 * 2 ** -24)]).toBe(0x0002);
    expect(ours[EDGE_CASES.indexOf(0.5 * 2 ** -24)]).toBe(0x0000);
  });

  it('passes float16 rows through untouched and refuses other types', () => {
    const bits = Uint16Array.of(0x3c00, 0x7e00, 0x8001);
    expect(rowsAsHalf(new ort.Tensor('float16', bits, [3]), 'h')).toBe(bits);
    expect(() => rowsAsHalf(new ort.Tensor('int32', Int32Array.of(1), [1]), 'bad')).toThrow(/int32/);
  });
});

describe('capture graphs whose rows leave as float32 (a WebGPU adapter without shader-f16)', () => {
  let fp32 = '';
  let fp16 = '';
  beforeAll(async () => {
    fp32 = mkdtempSync(join(tmpdir(), 'poc-rows32-'));
    fp16 = mkdtempSync(join(tmpdir(), 'poc-rows16-'));
    await makeTinyModel({ ...TINY_DEFAULTS, out: fp32, layers: 3 });
    await makeTinyModel({ ...TINY_DEFAULTS, out: fp16, dtype: 'float16' });
  });
  afterAll(() => {
    rmSync(fp32, { recursive: true, force: true });
    rmSync(fp16, { recursive: true, force: true });
  });

  it('have float32 capture outputs and no Cast to float16, beside the float16 graph under another name', async () => {
    const host = await ensureCaptureGraph(fp32, { withKeys: true, withValues: true, rowsOnHost: true });
    const graph = await ensureCaptureGraph(fp32, { withKeys: true, withValues: true });
    expect(host.path).not.toBe(graph.path);
    const model = fromBinary(ModelProtoSchema, readFileSync(host.path));
    const elem = (name: string) => {
      const o = model.graph!.output.find((x) => x.name === name)!;
      return o.type?.value.case === 'tensorType' ? o.type.value.value.elemType : -1;
    };
    for (const name of ['capture_hidden', 'capture_queries', 'capture_keys', 'capture_values']) expect(elem(name), name).toBe(DT.FLOAT);
    const halfCasts = model.graph!.node.filter((n) => n.opType === 'Cast' && n.attribute.some((a) => a.name === 'to' && Number(a.i) === DT.FLOAT16));
    expect(halfCasts).toEqual([]);
  });

  it('give bit-identical files to the in-graph Cast in every prefill mode (CPU provider)', async () => {
    const ids = Int32Array.from({ length: 70 }, (_, i) => (i * 37 + 11) % 500);
    const positions = Int32Array.of(0, 3, 17, 18, 31, 32, 33, 50, 69);
    const same = (a: { hidden: Uint16Array; queries: Uint16Array; keys?: Uint16Array; values?: Uint16Array }, b: typeof a, what: string) => {
      for (const f of ['hidden', 'queries', 'keys', 'values'] as const) expect(Buffer.from(b[f]!.buffer).equals(Buffer.from(a[f]!.buffer)), `${what} ${f}`).toBe(true);
    };
    for (const chunk of [16, 0]) {
      const [cast, host] = [false, true].map((rowsOnHost) => createCaptureSession(fp32, { ep: 'cpu', threads: 1, withKeys: true, withValues: true, onePass: chunk === 0, rowsOnHost }));
      const a = await prefillCapture(await cast!, ids, positions, chunk);
      const b = await prefillCapture(await host!, ids, positions, chunk);
      same(a, b, `chunk ${chunk}`);
      expect((await host!).rowsOnHost).toBe(true);
      await closeCaptureSession(await cast!);
      await closeCaptureSession(await host!);
    }
    const layers = await Promise.all([false, true].map((rowsOnHost) => createLayerSession(fp32, { ep: 'cpu', threads: 1, withKeys: true, withValues: true, rowsOnHost })));
    same((await prefillByLayers(layers[0]!, ids, positions, 16)).buffers, (await prefillByLayers(layers[1]!, ids, positions, 16)).buffers, 'layers');
    for (const s of layers) await closeLayerSession(s);
    const loops = await Promise.all([false, true].map((rowsOnHost) => createLoopSession(fp32, { ep: 'cpu', threads: 1, withKeys: true, withValues: true, rowsOnHost })));
    same(await runLoopPrefill(loops[0]!, ids, positions, 16), await runLoopPrefill(loops[1]!, ids, positions, 16), 'loop');
    for (const s of loops) await closeLoopSession(s);
    const layerGraphs = await ensureLayerGraphs(fp32, { withKeys: true, rowsOnHost: true });
    expect(layerGraphs.path).toMatch(/-f32rows-layers\.onnx$/);
  });

  it('refuse an export that computes in float16 with one line saying why', async () => {
    const err = await ensureCaptureGraph(fp16, { withKeys: false, rowsOnHost: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/computes in float16.*no shader-f16.*--ep cpu/);
    expect((err as Error).message).not.toContain('\n');
  });
});
