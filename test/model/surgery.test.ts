import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto } from 'onnx-buf';
import { makeTinyModel, TINY_DEFAULTS, type MakeTinyModelOptions } from '../../src/model/tiny/make-tiny-model.js';
import { ensureCaptureGraph } from '../../src/model/graph/capture-graph.js';
import { makeNode } from '../../src/model/graph/onnx-graph.js';
import { UserError } from '../../src/errors.js';

const dirs: string[] = [];
async function tinyModel(opts: Partial<MakeTinyModelOptions>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'poc-surgery-'));
  dirs.push(dir);
  await makeTinyModel({ ...TINY_DEFAULTS, ...opts, out: dir });
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function load(path: string): ModelProto {
  return fromBinary(ModelProtoSchema, readFileSync(path));
}

/** Nodes none of whose outputs is read by another node or is a graph output. */
function deadLeaves(model: ModelProto): string[] {
  const g = model.graph!;
  const read = new Set(g.node.flatMap((n) => n.input));
  for (const o of g.output) read.add(o.name);
  return g.node.filter((n) => !n.output.some((o) => read.has(o))).map((n) => n.name);
}

const STYLES = {
  optimum: { dataFile: 'model.onnx_data', norm: '/model/norm/Mul_1', attn: 'self_attn' },
  genai: { dataFile: 'model.onnx.data', norm: '/model/norm/SkipLayerNorm', attn: 'attn' },
} as const;

describe.each([
  { layers: 2, style: 'optimum' as const },
  { layers: 8, style: 'optimum' as const },
  { layers: 2, style: 'genai' as const },
  { layers: 8, style: 'genai' as const },
])('surgery on a $layers-layer $style model', ({ layers, style }) => {
  let dir = '';
  const names = STYLES[style];
  beforeAll(async () => {
    dir = await tinyModel({ layers, style, maxPosition: 256 });
  });

  it('removes logits, the lm_head, the final norm and the last MLP, and leaves no dead node', async () => {
    const cg = await ensureCaptureGraph(dir, { withKeys: false });
    expect(cg.cached).toBe(false);
    const before = load(join(dir, 'model.onnx'));
    const after = load(cg.path);
    const kept = new Set(after.graph!.node.map((n) => n.name));
    const last = layers - 1;
    for (const gone of ['/lm_head/MatMul', names.norm, `/model/layers.${last}/mlp/down_proj/MatMul`, `/model/layers.${last}/${names.attn}/o_proj/MatMul`]) {
      expect(before.graph!.node.some((n) => n.name === gone)).toBe(true);
      expect(kept.has(gone)).toBe(false);
    }
    // every earlier layer still runs whole (its output feeds the next layer)
    expect(kept.has(`/model/layers.${last - 1}/mlp/down_proj/MatMul`)).toBe(true);
    expect(deadLeaves(after)).toEqual([]);
    expect(after.graph!.output.map((o) => o.name).sort()).toEqual(
      // optimum: the sequence-major chunk of the cache (CACHE_IO); genai's fused attention keeps present.N.*
      [...Array.from({ length: layers }, (_, l) => (style === 'genai' ? [`present.${l}.key`, `present.${l}.value`] : [`present_chunk.${l}.key`, `present_chunk.${l}.value`])).flat(), 'capture_hidden', 'capture_queries'].sort(),
    );
    expect(after.graph!.initializer.some((t) => t.name === 'model.norm.weight')).toBe(false);
    expect(cg.stats!.nodesBefore).toBe(before.graph!.node.length);
    expect(cg.stats!.nodesAfter).toBe(after.graph!.node.length);
    const st = cg.stats!;
    console.log(`[surgery] ${style} ${layers} layers: ${st.nodesBefore} nodes, +${st.nodesAdded} capture, -${st.nodesRemoved} dead = ${st.nodesAfter}; ${cg.rewriteMs.toFixed(1)} ms`);
  });

  it('keeps external-data references and reuses the cached graph on a second call', async () => {
    const first = await ensureCaptureGraph(dir, { withKeys: false });
    expect(first.cached).toBe(true);
    const g = load(first.path).graph!;
    const locations = new Set(g.initializer.map((t) => t.externalData.find((e) => e.key === 'location')?.value));
    expect([...locations]).toEqual([names.dataFile]);
    expect(g.initializer.every((t) => t.rawData.length === 0)).toBe(true);
    const withKeys = await ensureCaptureGraph(dir, { withKeys: true });
    expect(withKeys.cached).toBe(false);
    expect(withKeys.path).not.toBe(first.path);
  });
});

describe('round trip', () => {
  it('keeps fields newer than ONNX 1.10 (node and model metadata_props) on kept nodes', async () => {
    const dir = await tinyModel({ layers: 2 });
    const model = load(join(dir, 'model.onnx'));
    const entry = create(StringStringEntryProtoSchema, { key: 'origin', value: 'test' });
    model.graph!.node.find((n) => n.name === '/model/layers.0/self_attn/q_proj/MatMul')!.metadataProps.push(entry);
    model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'exporter', value: 'tiny' }));
    writeFileSync(join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
    const after = load((await ensureCaptureGraph(dir, { withKeys: false })).path);
    const q = after.graph!.node.find((n) => n.name === '/model/layers.0/self_attn/q_proj/MatMul')!;
    expect(q.metadataProps.map((e) => [e.key, e.value])).toEqual([['origin', 'test']]);
    expect(after.metadataProps.find((e) => e.key === 'exporter')?.value).toBe('tiny');
    expect(after.metadataProps.some((e) => e.key === 'poc.capture_graph')).toBe(true);
  });
});

describe('surgery errors', () => {
  it('names the layer when its q projection is missing', async () => {
    const dir = await tinyModel({ layers: 3 });
    const model = load(join(dir, 'model.onnx'));
    const g = model.graph!;
    const i = g.node.findIndex((n) => n.name === '/model/layers.1/self_attn/q_proj/MatMul');
    const old = g.node[i]!;
    // a broken export: layer 1 has no q projection (its output now comes from an Identity)
    g.node[i] = makeNode('Identity', [old.input[0]!], [old.output[0]!], '/model/layers.1/self_attn/broken');
    writeFileSync(join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
    const err = await ensureCaptureGraph(dir, { withKeys: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^layer 1: cannot find the q projection: looked for a MatMul, Gemm or MatMulNBits .* \[64, 64\]/);
    expect(readdirSync(dir).some((f) => f.startsWith('poc-capture-'))).toBe(false);
  });

  it('rejects a graph without KV-cache outputs', async () => {
    const dir = await tinyModel({ layers: 2 });
    const model = load(join(dir, 'model.onnx'));
    model.graph!.output = model.graph!.output.filter((o) => !o.name.startsWith('present.0.'));
    writeFileSync(join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
    await expect(ensureCaptureGraph(dir, { withKeys: false })).rejects.toThrow(/^layer 0: the graph has no present\.0\.key/);
  });

  it('rejects a folder without an .onnx file', async () => {
    const dir = await tinyModel({ layers: 2 });
    rmSync(join(dir, 'model.onnx'));
    await expect(ensureCaptureGraph(dir, { withKeys: false })).rejects.toThrow(UserError);
    expect(existsSync(join(dir, 'config.json'))).toBe(true);
  });
});
