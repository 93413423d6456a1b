import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto, type TensorProto } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS, type MakeTinyModelOptions } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk } from '../../src/model/runtime/session.js';
import { fromHalfArray } from '../../src/model/half.js';
import { closeLayerSession, createLayerSession } from '../../src/model/runtime/layer-session.js';
import { prefillByLayers, prefillByStreamingLayers } from '../../src/capture/prefill/layer-by-layer.js';
import { closeStreamSession, createStreamSession } from '../../src/model/runtime/stream-session.js';
import { closeLoopSession, createLoopSession, runLoopPrefill } from '../../src/model/runtime/loop-session.js';
import { DT, floatTensor, int64Tensor, makeNode } from '../../src/model/graph/onnx-graph.js';
import { referenceForward, type RefForward } from './reference-llama.js';

// Export variants seen in the wild, made by editing a tiny export: q/k/v biases kept as
// their own Adds (Qwen-style), Gemm projections on a flattened input, and genai's unpacked
// q/k/v MatMuls feeding GroupQueryAttention. The surgery must find q and v in each, and
// layer slicing its residual cut.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function edited(opts: Partial<MakeTinyModelOptions>, edit: (m: ModelProto, dir: string) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'poc-variant-'));
  dirs.push(dir);
  await makeTinyModel({ ...TINY_DEFAULTS, maxPosition: 256, ...opts, out: dir });
  const model = fromBinary(ModelProtoSchema, readFileSync(join(dir, 'model.onnx')));
  edit(model, dir);
  writeFileSync(join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
  return dir;
}

/** float32 values of an external initializer. */
function externalValues(dir: string, t: TensorProto): Float32Array {
  const entry = (k: string) => t.externalData.find((e) => e.key === k)!.value;
  const bytes = readFileSync(join(dir, entry('location')));
  const offset = Number(entry('offset'));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + Number(entry('length'))));
}

const ids = Array.from({ length: 24 }, (_, i) => (i * 29 + 7) % 500);
const positions = [0, 11, 23];

/** [L, heads, P, d] (the corpus layout) -> [L, P, heads*d] (the projection's) */
function headsSideBySide(x: Float32Array, L: number, heads: number, P: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let l = 0; l < L; l++) for (let h = 0; h < heads; h++) for (let i = 0; i < P; i++)
    out.set(x.subarray(((l * heads + h) * P + i) * d, ((l * heads + h) * P + i + 1) * d), (l * P + i) * heads * d + h * d);
  return out;
}

async function capture(dir: string) {
  const s = await createCaptureSession(dir, { ep: 'cpu', threads: 1, withValues: true });
  const r = await runChunk(s, { inputIds: ids, capturePositions: positions, past: emptyKvCache(s) });
  await closeCaptureSession(s);
  const got = { hidden: fromHalfArray(r.hiddenF16), queries: fromHalfArray(r.queriesF16), values: fromHalfArray(r.valuesF16!) };
  // the layer-streamed prefill (in uneven 10-token chunks) must find its cut in every variant and give the same rows
  const ls = await createLayerSession(dir, { ep: 'cpu', threads: 1, withValues: true });
  const { buffers } = await prefillByLayers(ls, Int32Array.from(ids), Int32Array.from(positions), 10);
  await closeLayerSession(ls);
  const { nLayers: L, nHeads: nq, nKvHeads: nkv, headDim: d } = ls.geometry;
  const P = positions.length;
  const layered = fromHalfArray(buffers.queries);
  const layeredValues = fromHalfArray(buffers.values!);
  expect(excess(fromHalfArray(buffers.hidden), got.hidden), 'layer-streamed hidden').toBeLessThan(1e-4);
  expect(excess(headsSideBySide(layered, L, nq, P, d), got.queries), 'layer-streamed queries').toBeLessThan(1e-4);
  expect(excess(headsSideBySide(layeredValues, L, nkv, P, d), got.values), 'layer-streamed values').toBeLessThan(1e-4);
  // the streamed prefill (a session per layer slice) gives the layer-switch rows bit for bit (float32 variants)
  const st = await createStreamSession(dir, { ep: 'cpu', threads: 1, withValues: true });
  const streamed = (await prefillByStreamingLayers(st, Int32Array.from(ids), Int32Array.from(positions), 10)).buffers;
  await closeStreamSession(st);
  expect(st.stats.peakOpen).toBe(1);
  expect(Buffer.from(streamed.hidden.buffer).equals(Buffer.from(buffers.hidden.buffer)), 'streamed hidden').toBe(true);
  expect(Buffer.from(streamed.queries.buffer).equals(Buffer.from(buffers.queries.buffer)), 'streamed queries').toBe(true);
  expect(Buffer.from(streamed.values!.buffer).equals(Buffer.from(buffers.values!.buffer)), 'streamed values').toBe(true);
  // and the loop graph (one run, the same uneven chunks) builds its body from every variant
  const lp = await createLoopSession(dir, { ep: 'cpu', threads: 1, withValues: true });
  const looped = await runLoopPrefill(lp, Int32Array.from(ids), Int32Array.from(positions), 10);
  await closeLoopSession(lp);
  expect(excess(fromHalfArray(looped.hidden), fromHalfArray(buffers.hidden)), 'loop hidden').toBeLessThan(1e-4);
  expect(excess(fromHalfArray(looped.queries), layered), 'loop queries').toBeLessThan(1e-4);
  expect(excess(fromHalfArray(looped.values!), layeredValues), 'loop values').toBeLessThan(1e-4);
  return got;
}

/** max over elements of |got - want| beyond one float16 rounding, relative to rms(want) */
function excess(got: Float32Array, want: ArrayLike<number>): number {
  let ss = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    ss += want[i]! ** 2;
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) - 2 ** -11 * Math.abs(want[i]!));
  }
  return worst / Math.sqrt(ss / want.length);
}

/** reference rows [L, P, width] of per-layer [T, width] arrays */
function rows(perLayer: Float64Array[], width: number): Float64Array {
  const out = new Float64Array(perLayer.length * positions.length * width);
  perLayer.forEach((x, l) => positions.forEach((p, i) => out.set(x.subarray(p * width, (p + 1) * width), (l * positions.length + i) * width)));
  return out;
}

/** reference value rows [L, P, n_kv*d] (v_proj's layout) of the per-head [L][n_kv][T*d] arrays */
function valueRows(ref: RefForward): Float64Array {
  const nkv = ref.values[0]!.length;
  const d = ref.values[0]![0]!.length / ids.length;
  const perLayer = ref.values.map((heads) => {
    const x = new Float64Array(ids.length * nkv * d);
    heads.forEach((h, g) => { for (let t = 0; t < ids.length; t++) x.set(h.subarray(t * d, (t + 1) * d), (t * nkv + g) * d); });
    return x;
  });
  return rows(perLayer, nkv * d);
}

describe('surgery on export variants (float32; queries and values within one float16 rounding + 1e-4 of the rms)', () => {
  it('q/k/v biases kept as separate Adds are part of the captured queries and values', async () => {
    const [Q, KV] = [64, 32];
    const bias = { q: Array.from({ length: Q }, (_, i) => 0.5 * Math.sin(i)), k: Array.from({ length: KV }, (_, i) => 0.3 * Math.cos(i)), v: Array.from({ length: KV }, (_, i) => 0.4 * Math.cos(2 * i + 1)) };
    const dir = await edited({ layers: 2 }, (m) => {
      const g = m.graph!;
      for (const p of ['q', 'k', 'v'] as const) {
        const i = g.node.findIndex((n) => n.name === `/model/layers.1/self_attn/${p}_proj/MatMul`);
        const mm = g.node[i]!;
        const raw = mm.output[0]!;
        mm.output[0] = `${raw}_nobias`;
        g.initializer.push(floatTensor(`model.layers.1.self_attn.${p}_proj.bias`, DT.FLOAT, bias[p], [bias[p].length]));
        g.node.splice(i + 1, 0, makeNode('Add', [`model.layers.1.self_attn.${p}_proj.bias`, mm.output[0]!], [raw], `/model/layers.1/self_attn/${p}_proj/Add`));
      }
    });
    // the reference has no biases: the captured rows of layer 1 are the biased projections of
    // the same input (layer 0 and layer 1's input are untouched; the k bias changes only what
    // layer 1's attention makes, which no captured row reads)
    const ref = referenceForward(dir, ids);
    const want = rows(ref.queries, Q);
    const wantValues = valueRows(ref);
    for (let i = 0; i < positions.length; i++) {
      for (let c = 0; c < Q; c++) want[(positions.length + i) * Q + c]! += bias.q[c]!;
      for (let c = 0; c < KV; c++) wantValues[(positions.length + i) * KV + c]! += bias.v[c]!;
    }
    const got = await capture(dir);
    expect(excess(got.queries, want)).toBeLessThan(1e-4);
    expect(excess(got.values, wantValues)).toBeLessThan(1e-4);
    expect(excess(got.hidden, rows(ref.hidden, 64))).toBeLessThan(1e-4);
  });

  it('Gemm projections on a flattened [tokens, hidden] input', async () => {
    const dir = await edited({ layers: 2 }, (m) => {
      const g = m.graph!;
      const sizes = new Map(g.initializer.map((t) => [t.name, t.dims.map(Number)]));
      g.initializer.push(int64Tensor('flat_shape', [-1, 64]));
      g.node = g.node.flatMap((n) => {
        if (!/self_attn\/[qkv]_proj\/MatMul$/.test(n.name)) return [n];
        const out = sizes.get(n.input[1]!)![1]!;
        const base = n.name.replace(/MatMul$/, '');
        g.initializer.push(int64Tensor(`${base}unflat_shape`, [1, -1, out]));
        return [
          makeNode('Reshape', [n.input[0]!, 'flat_shape'], [`${base}Reshape_flat`], `${base}Reshape_flat`),
          makeNode('Gemm', [`${base}Reshape_flat`, n.input[1]!], [`${base}Gemm_out`], `${base}Gemm`),
          makeNode('Reshape', [`${base}Gemm_out`, `${base}unflat_shape`], [n.output[0]!], `${base}Reshape_unflat`),
        ];
      });
    });
    const ref = referenceForward(dir, ids);
    const got = await capture(dir);
    expect(excess(got.queries, rows(ref.queries, 64))).toBeLessThan(1e-4);
    expect(excess(got.values, valueRows(ref))).toBeLessThan(1e-4);
    expect(excess(got.hidden, rows(ref.hidden, 64))).toBeLessThan(1e-4);
  });

  it('MatMul weights kept as [out, in] parameters behind a Transpose node', async () => {
    const dir = await edited({ layers: 2 }, (m, d) => {
      const g = m.graph!;
      for (const n of g.node) {
        if (!/self_attn\/[qkv]_proj\/MatMul$/.test(n.name)) continue;
        const w = g.initializer.find((t) => t.name === n.input[1])!;
        const [K, N] = w.dims.map(Number) as [number, number];
        const values = externalValues(d, w);
        const outIn = new Float32Array(K * N);
        for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) outIn[c * K + k] = values[k * N + c]!;
        const param = n.name.replace(/^\/(.*)\/MatMul$/, '$1.weight').replaceAll('/', '.');
        g.initializer.push(floatTensor(param, DT.FLOAT, outIn, [N, K]));
        g.node.push(makeNode('Transpose', [param], [`${param}_T`], `${n.name}_weight_T`, { perm: [1, 0] }));
        n.input[1] = `${param}_T`;
      }
      // Transposes must precede their MatMuls: keep the graph topologically sorted
      const transposes = g.node.filter((n) => n.opType === 'Transpose' && n.name.endsWith('_weight_T'));
      g.node = [...transposes, ...g.node.filter((n) => !transposes.includes(n))];
    });
    const ref = referenceForward(dir, ids);
    const got = await capture(dir);
    expect(excess(got.queries, rows(ref.queries, 64))).toBeLessThan(1e-4);
    expect(excess(got.values, valueRows(ref))).toBeLessThan(1e-4);
    expect(excess(got.hidden, rows(ref.hidden, 64))).toBeLessThan(1e-4);
  });

  it('a causal mask sized by the embeddings (Shape of inputs_embeds, as transformers writes it)', async () => {
    let edits = 0;
    const dir = await edited({ layers: 3 }, (m) => {
      for (const n of m.graph!.node) {
        if (n.opType === 'Shape' && n.input[0] === 'input_ids') {
          n.input[0] = '/model/embed_tokens/Gather_output_0';
          edits++;
        }
      }
    });
    expect(edits).toBeGreaterThan(0);
    const ref = referenceForward(dir, ids);
    const got = await capture(dir);
    expect(excess(got.queries, rows(ref.queries, 64))).toBeLessThan(1e-4);
    expect(excess(got.values, valueRows(ref))).toBeLessThan(1e-4);
    expect(excess(got.hidden, rows(ref.hidden, 64))).toBeLessThan(1e-4);
  });

  it('genai with unpacked q/k/v MatMuls feeding GroupQueryAttention', async () => {
    const [H, Q, KV] = [64, 64, 32];
    const dir = await edited({ style: 'genai', layers: 2 }, (m, d) => {
      const g = m.graph!;
      g.node = g.node.flatMap((n) => {
        if (!n.name.endsWith('/attn/qkv_proj/MatMul')) return [n];
        const w = externalValues(d, g.initializer.find((t) => t.name === n.input[1])!);
        const N = Q + 2 * KV;
        const cols = (from: number, width: number) => {
          const out = new Float32Array(H * width);
          for (let r = 0; r < H; r++) for (let c = 0; c < width; c++) out[r * width + c] = w[r * N + from + c]!;
          return out;
        };
        const base = n.name.replace('/qkv_proj/MatMul', '');
        const parts = [['q', 0, Q], ['k', Q, KV], ['v', Q + KV, KV]] as const;
        for (const [p, from, width] of parts) g.initializer.push(floatTensor(`${base}/${p}_proj.weight`, DT.FLOAT, cols(from, width), [H, width]));
        const gqa = g.node.find((x) => x.opType === 'GroupQueryAttention' && x.input[0] === n.output[0])!;
        gqa.input.splice(0, 3, ...parts.map(([p]) => `${base}/${p}_proj/MatMul/output_0`));
        return parts.map(([p]) => makeNode('MatMul', [n.input[0]!, `${base}/${p}_proj.weight`], [`${base}/${p}_proj/MatMul/output_0`], `${base}/${p}_proj/MatMul`));
      });
    });
    const ref = referenceForward(dir, ids);
    const got = await capture(dir);
    expect(excess(got.queries, rows(ref.queries, Q))).toBeLessThan(1e-4);
    expect(excess(got.values, valueRows(ref))).toBeLessThan(1e-4);
    expect(excess(got.hidden, rows(ref.hidden, H))).toBeLessThan(1e-4);
  });
});
