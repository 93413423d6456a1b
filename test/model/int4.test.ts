import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk } from '../../src/model/runtime/session.js';
import { closeLayerSession, createLayerSession } from '../../src/model/runtime/layer-session.js';
import { prefillByLayers, prefillByStreamingLayers } from '../../src/capture/prefill/layer-by-layer.js';
import { closeStreamSession, createStreamSession } from '../../src/model/runtime/stream-session.js';
import { prefillCapture } from '../../src/capture/prefill/chunks.js';
import { closeLoopSession, createLoopSession, runLoopPrefill } from '../../src/model/runtime/loop-session.js';
import { fromHalfArray } from '../../src/model/half.js';
import { DT, makeNode, rawTensor } from '../../src/model/graph/onnx-graph.js';
import { referenceForward } from './reference-llama.js';

// An int4 export as the genai builder makes it: each packed qkv MatMul becomes a
// MatMulNBits (4 bits, blocks of 32 along K, default zero point 8). Quantised here by hand.
const BLOCK = 32;
const o = { ...TINY_DEFAULTS, style: 'genai' as const, maxPosition: 256 };
const d = o.hidden / o.heads;
const qWidth = o.heads * d;
let dir = '';
/** per layer: dequantised qkv weight [K, N] row-major, the numbers MatMulNBits multiplies by */
const dequant: Float32Array[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poc-int4-'));
  await makeTinyModel({ ...o, out: dir });
  const model = fromBinary(ModelProtoSchema, readFileSync(join(dir, 'model.onnx')));
  const g = model.graph!;
  const data = readFileSync(join(dir, 'model.onnx.data'));
  for (let i = 0; i < g.node.length; i++) {
    const node = g.node[i]!;
    if (!node.name.endsWith('/attn/qkv_proj/MatMul')) continue;
    const w = g.initializer.find((t) => t.name === node.input[1])!;
    const [K, N] = w.dims.map(Number) as [number, number];
    const offset = Number(w.externalData.find((e) => e.key === 'offset')!.value);
    const weights = new Float32Array(data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + K * N * 4));
    const nBlocks = K / BLOCK;
    const packed = new Uint8Array(N * nBlocks * (BLOCK / 2));
    const scales = new Float32Array(N * nBlocks);
    const deq = new Float32Array(K * N);
    for (let n = 0; n < N; n++)
      for (let blk = 0; blk < nBlocks; blk++) {
        let maxAbs = 0;
        for (let j = 0; j < BLOCK; j++) maxAbs = Math.max(maxAbs, Math.abs(weights[(blk * BLOCK + j) * N + n]!));
        const scale = Math.fround(maxAbs / 7);
        scales[n * nBlocks + blk] = scale;
        for (let j = 0; j < BLOCK; j++) {
          const k = blk * BLOCK + j;
          const q = Math.min(15, Math.max(0, Math.round(weights[k * N + n]! / scale) + 8));
          packed[(n * nBlocks + blk) * (BLOCK / 2) + (j >> 1)]! |= j % 2 === 0 ? q : q << 4;
          deq[k * N + n] = (q - 8) * scale;
        }
      }
    dequant.push(deq);
    const base = node.name.replace(/MatMul$/, 'MatMul_Q4');
    g.initializer.push(rawTensor(`${base}.qweight`, DT.UINT8, [N, nBlocks, BLOCK / 2], packed));
    g.initializer.push(rawTensor(`${base}.scales`, DT.FLOAT, [N * nBlocks], new Uint8Array(scales.buffer)));
    g.node[i] = makeNode('MatMulNBits', [node.input[0]!, `${base}.qweight`, `${base}.scales`], [node.output[0]!], base, { K, N, bits: 4, block_size: BLOCK }, 'com.microsoft');
  }
  writeFileSync(join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('surgery on an int4 (MatMulNBits) genai export', () => {
  it('gathers the q and v columns of the quantised packed projection', async () => {
    expect(dequant).toHaveLength(o.layers);
    const s = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withValues: true });
    const ids = Array.from({ length: 20 }, (_, i) => (i * 13 + 5) % 500);
    const positions = [0, 7, 19];
    const r = await runChunk(s, { inputIds: ids, capturePositions: positions, past: emptyKvCache(s) });
    await closeCaptureSession(s);
    const hidden = fromHalfArray(r.hiddenF16);
    const queries = fromHalfArray(r.queriesF16);
    const values = fromHalfArray(r.valuesF16!);
    const H = o.hidden;
    const kvWidth = o.kvHeads * d;
    const N = qWidth + 2 * kvWidth;
    // layer 0's input does not depend on the quantisation: it matches the float64 reference
    const ref = referenceForward(dir, ids);
    let worst = 0;
    positions.forEach((p, i) => {
      for (let j = 0; j < H; j++) worst = Math.max(worst, Math.abs(hidden[i * H + j]! - ref.hidden[0]![p * H + j]!) / Math.abs(ref.hidden[0]![p * H + j]!));
    });
    expect(worst).toBeLessThan(2 ** -11 * 1.01 + 1e-6); // one float16 rounding
    // queries = captured hidden · dequantised weight[:, :qWidth], values the same with the last
    // kvWidth columns; the hidden fed to the graph is the unrounded float32, so allow its float16
    // rounding carried through the product plus the output rounding: 3e-3 of the rms (measured ~1e-3)
    const columnsErr = (got: Float32Array, from: number, width: number) => {
      let ss = 0;
      let maxErr = 0;
      for (let l = 0; l < o.layers; l++)
        positions.forEach((_, i) => {
          const row = (l * positions.length + i);
          for (let c = 0; c < width; c++) {
            let acc = 0;
            for (let k = 0; k < H; k++) acc += hidden[row * H + k]! * dequant[l]![k * N + from + c]!;
            ss += acc * acc;
            maxErr = Math.max(maxErr, Math.abs(got[row * width + c]! - acc));
          }
        });
      return maxErr / Math.sqrt(ss / (o.layers * positions.length * width));
    };
    const qErr = columnsErr(queries, 0, qWidth);
    const vErr = columnsErr(values, qWidth + kvWidth, kvWidth);
    if (process.env.POC_LOG_ERR) console.log("int4", worst, qErr, vErr);
    expect(qErr).toBeLessThan(3e-3);
    expect(vErr).toBeLessThan(3e-3);
  });

  it('gives the same rows when prefilled layer by layer, streamed per layer, or in a Loop (residual cut around MatMulNBits layers)', async () => {
    const ids = Int32Array.from({ length: 20 }, (_, i) => (i * 13 + 5) % 500);
    const positions = Int32Array.from([0, 7, 19]);
    const c = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withValues: true });
    const chunked = await prefillCapture(c, ids, positions, 6);
    await closeCaptureSession(c);
    const s = await createLayerSession(dir, { ep: 'cpu', threads: 1, withValues: true });
    const layered = (await prefillByLayers(s, ids, positions, 6)).buffers;
    await closeLayerSession(s);
    // the same kernels on the same inputs: identical bits
    expect(Array.from(layered.hidden)).toEqual(Array.from(chunked.hidden));
    expect(Array.from(layered.queries)).toEqual(Array.from(chunked.queries));
    expect(Array.from(layered.values!)).toEqual(Array.from(chunked.values!));
    // and with one session per layer slice (MatMulNBits weights in that slice only)
    const st = await createStreamSession(dir, { ep: 'cpu', threads: 1, withValues: true });
    const streamed = (await prefillByStreamingLayers(st, ids, positions, 6)).buffers;
    await closeStreamSession(st);
    expect(Array.from(streamed.hidden)).toEqual(Array.from(chunked.hidden));
    expect(Array.from(streamed.queries)).toEqual(Array.from(chunked.queries));
    expect(Array.from(streamed.values!)).toEqual(Array.from(chunked.values!));
    // and inside one Loop run (MatMulNBits reading outer-scope weights from the body)
    const lp = await createLoopSession(dir, { ep: 'cpu', threads: 1, withValues: true });
    const looped = await runLoopPrefill(lp, ids, positions, 6);
    await closeLoopSession(lp);
    expect(Array.from(looped.hidden)).toEqual(Array.from(chunked.hidden));
    expect(Array.from(looped.queries)).toEqual(Array.from(chunked.queries));
    expect(Array.from(looped.values!)).toEqual(Array.from(chunked.values!));
  });
});
