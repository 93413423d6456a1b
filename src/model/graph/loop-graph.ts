import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  StringStringEntryProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { UserError } from '../../errors.js';
import { CAPTURE_IO, CACHE_IO, capturedRowType, rewriteForCapture } from './capture-surgery.js';
import type { ModelGeometry } from '../config.js';
import { findLayerTaps } from './find-projections.js';
import { indexGraph, nodeReads } from './graph-index.js';
import { DT, int64Tensor, makeNode, rawTensor, valueInfo } from './onnx-graph.js';

/** Bumped whenever the loop rewrite changes, so cached loop graphs of older versions are not reused. */
export const LOOP_GRAPH_VERSION = 1;

/**
 * Names of the loop graph's inputs and outputs (the contract with loop-session.ts). Nothing
 * else goes in or out: the KV cache is a loop-carried value that never leaves onnxruntime.
 */
export const LOOP_IO = {
  /** int64 [1, T]: the whole prompt */
  ids: 'prompt_ids',
  /** int64 [P]: positions to gather, absolute in the prompt, ascending */
  positions: 'prompt_capture_positions',
  /** int64 scalar: tokens per chunk (the last chunk may be shorter) */
  chunk: 'chunk_length',
  /** float16 [L, P, hidden]: attention-block inputs, the corpus layout */
  hidden: 'captured_hidden',
  /** float16 [L, n_heads, P, head_dim]: pre-RoPE queries, the corpus layout */
  queries: 'captured_queries',
  /** float16 [L, n_kv_heads, P, head_dim]: post-RoPE keys (with keys only) */
  keys: 'captured_keys',
  /** float16 [L, n_kv_heads, P, head_dim]: v_proj outputs, no RoPE, the corpus layout (with values only) */
  values: 'captured_values',
} as const;

/** The inputs a decoder export may have; the loop body makes each one from the prompt and the iteration number. */
const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const MADE_IN_BODY = new Set(['input_ids', 'attention_mask', 'position_ids', CAPTURE_IO.positions]);

/**
 * Rewrite a decoder export (in place) into one graph that prefills a whole prompt chunk by
 * chunk in a single run: an ONNX Loop over the chunks whose body is the capture graph of one
 * chunk (rewriteForCapture with the export's own cache signature). Each layer's past K/V is
 * loop-carried (empty at first; the body's present = Concat(past, chunk) becomes the next
 * past), and so are the captured rows, which each iteration extends by its chunk's rows
 * (their count varies by chunk, so they cannot be scan outputs). The only graph outputs are
 * the rows: the cache stays in onnxruntime's memory (the device's, on a GPU) for the whole
 * prompt. Weights stay initializers of the outer graph (external data, never copied), read
 * by the body from the outer scope.
 */
export function rewriteForLoop(model: ModelProto, g: ModelGeometry, opts: { withKeys: boolean; withValues?: boolean; rowsOnHost?: boolean }): void {
  const graph = model.graph;
  if (!graph) throw new UserError('the .onnx file holds no graph');
  const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0n);
  if (opset < 11) throw new UserError(`--prefill loop needs an export of ONNX opset 11 or newer (this one is opset ${opset}); use --prefill layers`);
  const taps = findLayerTaps(graph, indexGraph(graph), g);
  const pastType = kvElemType(graph.input);
  const withValues = opts.withValues ?? false;
  rewriteForCapture(model, g, { withKeys: opts.withKeys, withValues, exportCache: true, rowsOnHost: opts.rowsOnHost });
  const rowType = capturedRowType(opts);
  for (const i of graph.input) {
    if (!MADE_IN_BODY.has(i.name) && !PAST.test(i.name)) throw new UserError(`--prefill loop does not know how to feed the export's input ${i.name}; use --prefill layers`);
  }
  const pastNames = taps.flatMap((t) => [CACHE_IO.exportPast(t.layer, 'key'), CACHE_IO.exportPast(t.layer, 'value')]);
  const presentNames = taps.flatMap((t) => [t.present.key, t.present.value]);
  for (const p of pastNames) {
    if (!graph.input.some((i) => i.name === p)) throw new UserError(`the export has no input ${p}; export the model with past key values (KV cache)`);
  }
  const takesPositionIds = graph.input.some((i) => i.name === 'position_ids');

  const body = loopBody(graph, g, { withKeys: opts.withKeys, withValues, takesPositionIds, pastNames, presentNames, pastType, rowType });
  const outer: NodeProto[] = [];
  const s = '/loop_outer';
  const constant = (name: string, t: ReturnType<typeof int64Tensor>) => {
    outer.push(makeNode('Constant', [], [name], name, { value: t }));
    return name;
  };
  // trip count = ceil(T / chunk)
  const idsShape = `${s}/Shape_ids`;
  outer.push(makeNode('Shape', [LOOP_IO.ids], [idsShape], idsShape));
  const tokens = `${s}/tokens`;
  outer.push(makeNode('Gather', [idsShape, constant(`${s}/one`, int64Tensor('', [1], []))], [tokens], `${s}/Gather_tokens`, { axis: 0 }));
  const chunkMinusOne = `${s}/chunk_minus_one`;
  outer.push(makeNode('Sub', [LOOP_IO.chunk, `${s}/one`], [chunkMinusOne], `${s}/Sub_chunk`));
  const padded = `${s}/padded`;
  outer.push(makeNode('Add', [tokens, chunkMinusOne], [padded], `${s}/Add_padded`));
  const trips = `${s}/trips`;
  outer.push(makeNode('Div', [padded, LOOP_IO.chunk], [trips], `${s}/Div_trips`));
  // empty initial values: the past [1, n_kv, 0, head_dim] in the export's layout, no rows yet
  const emptyPast = `${s}/empty_past`;
  outer.push(makeNode('Constant', [], [emptyPast], emptyPast, { value: rawTensor('', pastType, [1, g.nKvHeads, 0, g.headDim], new Uint8Array(0)) }));
  const emptyRows = (name: string, dims: number[]) => {
    outer.push(makeNode('Constant', [], [name], name, { value: rawTensor('', rowType, dims, new Uint8Array(0)) }));
    return name;
  };
  const qWidth = g.nHeads * g.headDim;
  const initial = [
    ...pastNames.map(() => emptyPast),
    emptyRows(`${s}/empty_hidden`, [g.nLayers, 0, g.hiddenSize]),
    emptyRows(`${s}/empty_queries`, [g.nLayers, 0, qWidth]),
  ];
  if (opts.withKeys) initial.push(emptyRows(`${s}/empty_keys`, [g.nLayers, g.nKvHeads, 0, g.headDim]));
  if (withValues) initial.push(emptyRows(`${s}/empty_values`, [g.nLayers, 0, g.nKvHeads * g.headDim]));
  // the final cache has to be named: onnxruntime 1.30 crashes (SIGSEGV) on a Loop whose
  // carried outputs are left out with ''; nothing reads it, so it is freed when the loop ends
  const rowsHidden = `${s}/rows_hidden`;
  const rowsQueries = `${s}/rows_queries`;
  const loopOutputs = [...pastNames.map((p) => `${s}/final/${p}`), rowsHidden, rowsQueries];
  if (opts.withKeys) loopOutputs.push(LOOP_IO.keys);
  const rowsValues = `${s}/rows_values`;
  if (withValues) loopOutputs.push(rowsValues);
  const loop = makeNode('Loop', [trips, '', ...initial], loopOutputs, `${s}/Loop_chunks`);
  loop.attribute.push(create(AttributeProtoSchema, { name: 'body', type: AttributeProto_AttributeType.GRAPH, g: body }));
  outer.push(loop);
  outer.push(makeNode('Identity', [rowsHidden], [LOOP_IO.hidden], `${s}/Identity_hidden`));
  // q_proj lays heads side by side; the corpus wants [L, head, P, d]: done here, so the
  // output is the file's array as is and the host makes no copy of it
  const headsShape = constant(`${s}/heads_shape`, int64Tensor('', [0, 0, g.nHeads, g.headDim]));
  const split = `${s}/queries_split`;
  outer.push(makeNode('Reshape', [rowsQueries, headsShape], [split], `${s}/Reshape_queries`));
  outer.push(makeNode('Transpose', [split], [LOOP_IO.queries], `${s}/Transpose_queries`, { perm: [0, 2, 1, 3] }));
  if (withValues) {
    // v_proj lays kv heads side by side too
    const kvHeadsShape = constant(`${s}/kv_heads_shape`, int64Tensor('', [0, 0, g.nKvHeads, g.headDim]));
    const splitValues = `${s}/values_split`;
    outer.push(makeNode('Reshape', [rowsValues, kvHeadsShape], [splitValues], `${s}/Reshape_values`));
    outer.push(makeNode('Transpose', [splitValues], [LOOP_IO.values], `${s}/Transpose_values`, { perm: [0, 2, 1, 3] }));
  }

  graph.node = outer;
  graph.input = [
    valueInfo(LOOP_IO.ids, DT.INT64, [1, 'prompt_length']),
    valueInfo(LOOP_IO.positions, DT.INT64, ['capture_count']),
    valueInfo(LOOP_IO.chunk, DT.INT64, []),
  ];
  graph.output = [
    valueInfo(LOOP_IO.hidden, rowType, [g.nLayers, 'capture_count', g.hiddenSize]),
    valueInfo(LOOP_IO.queries, rowType, [g.nLayers, g.nHeads, 'capture_count', g.headDim]),
  ];
  if (opts.withKeys) graph.output.push(valueInfo(LOOP_IO.keys, rowType, [g.nLayers, g.nKvHeads, 'capture_count', g.headDim]));
  if (withValues) graph.output.push(valueInfo(LOOP_IO.values, rowType, [g.nLayers, g.nKvHeads, 'capture_count', g.headDim]));
  graph.valueInfo = [];
  model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'poc.loop_graph', value: JSON.stringify({ version: LOOP_GRAPH_VERSION, ...opts }) }));
}

interface BodyOptions {
  withKeys: boolean;
  withValues: boolean;
  takesPositionIds: boolean;
  pastNames: string[];
  presentNames: string[];
  pastType: number;
  /** element type of the captured rows (float16, or float32 rounded on the host) */
  rowType: number;
}

/**
 * The Loop body: (iteration, cond, past K/V of every layer, rows so far) → (cond, present
 * K/V, rows extended by this chunk's). A preamble makes the capture graph's inputs for chunk
 * i: its ids (a Slice of the prompt, clamped at the end), position_ids, an all-ones mask over
 * past + chunk, and the sampled positions inside the chunk, made chunk-relative.
 */
function loopBody(capture: GraphProto, g: ModelGeometry, o: BodyOptions): GraphProto {
  const nodes: NodeProto[] = [];
  const s = '/loop';
  const node = (name: string, op: string, inputs: string[], attrs: Parameters<typeof makeNode>[4] = {}, out = `${s}/${name}_output_0`) => {
    nodes.push(makeNode(op, inputs, [out], `${s}/${name}`, attrs));
    return out;
  };
  const constant = (name: string, values: number[], dims?: number[]) => node(name, 'Constant', [], { value: int64Tensor('', values, dims) });
  const iteration = `${s}/iteration`;
  const condIn = `${s}/cond_in`;
  const rowsIn = { hidden: `${s}/hidden_in`, queries: `${s}/queries_in`, keys: `${s}/keys_in`, values: `${s}/values_in` };

  // scalars: start = i * chunk, length = the slice's (the last chunk is short), total = start + length
  const start = node('Mul_start', 'Mul', [iteration, LOOP_IO.chunk]);
  const vec = constant('Constant_vec', [1]);
  const start1 = node('Reshape_start', 'Reshape', [start, vec]);
  const end1 = node('Add_end', 'Add', [start1, node('Reshape_chunk', 'Reshape', [LOOP_IO.chunk, vec])]);
  node('Slice_ids', 'Slice', [LOOP_IO.ids, start1, end1, vec], {}, 'input_ids');
  const length = node('Gather_length', 'Gather', [node('Shape_ids', 'Shape', ['input_ids']), constant('Constant_one', [1], [])], { axis: 0 });
  const total = node('Add_total', 'Add', [start, length]);
  const maskShape = node('Concat_mask_shape', 'Concat', [vec, node('Reshape_total', 'Reshape', [total, vec])], { axis: 0 });
  node('ConstantOfShape_mask', 'ConstantOfShape', [maskShape], { value: int64Tensor('', [1], [1]) }, 'attention_mask');
  if (o.takesPositionIds) {
    const range = node('Range_positions', 'Range', [start, total, constant('Constant_step', [1], [])]);
    node('Reshape_position_ids', 'Reshape', [range, constant('Constant_row', [1, -1])], {}, 'position_ids');
  }
  // the sampled positions in [start, total), relative to start
  const before = node('Less_start', 'Less', [LOOP_IO.positions, start]);
  const inside = node('And_inside', 'And', [node('Not_before', 'Not', [before]), node('Less_total', 'Less', [LOOP_IO.positions, total])]);
  node('Sub_relative', 'Sub', [node('Compress_positions', 'Compress', [LOOP_IO.positions, inside], { axis: 0 }), start], {}, CAPTURE_IO.positions);

  nodes.push(...capture.node);
  const rowsOut = {
    hidden: node('Concat_hidden', 'Concat', [rowsIn.hidden, CAPTURE_IO.hidden], { axis: 1 }),
    queries: node('Concat_queries', 'Concat', [rowsIn.queries, CAPTURE_IO.queries], { axis: 1 }),
    keys: o.withKeys ? node('Concat_keys', 'Concat', [rowsIn.keys, CAPTURE_IO.keys], { axis: 2 }) : '',
    values: o.withValues ? node('Concat_values', 'Concat', [rowsIn.values, CAPTURE_IO.values], { axis: 1 }) : '',
  };
  const condOut = node('Identity_cond', 'Identity', [condIn]);

  const untyped = (name: string, elemType: number) => {
    const v = valueInfo(name, elemType, []);
    if (v.type?.value.case === 'tensorType') v.type.value.value.shape = undefined;
    return v;
  };
  const qWidth = g.nHeads * g.headDim;
  const inputs: ValueInfoProto[] = [
    valueInfo(iteration, DT.INT64, []),
    valueInfo(condIn, DT.BOOL, []),
    ...o.pastNames.map((n) => valueInfo(n, o.pastType, [1, g.nKvHeads, 'past_sequence_length', g.headDim])),
    valueInfo(rowsIn.hidden, o.rowType, [g.nLayers, 'rows_so_far', g.hiddenSize]),
    valueInfo(rowsIn.queries, o.rowType, [g.nLayers, 'rows_so_far', qWidth]),
  ];
  const outputs: ValueInfoProto[] = [
    valueInfo(condOut, DT.BOOL, []),
    ...o.presentNames.map((n) => untyped(n, o.pastType)),
    untyped(rowsOut.hidden, o.rowType),
    untyped(rowsOut.queries, o.rowType),
  ];
  if (o.withKeys) {
    inputs.push(valueInfo(rowsIn.keys, o.rowType, [g.nLayers, g.nKvHeads, 'rows_so_far', g.headDim]));
    outputs.push(untyped(rowsOut.keys, o.rowType));
  }
  if (o.withValues) {
    inputs.push(valueInfo(rowsIn.values, o.rowType, [g.nLayers, 'rows_so_far', g.nKvHeads * g.headDim]));
    outputs.push(untyped(rowsOut.values, o.rowType));
  }
  // onnxruntime wants subgraph nodes in topological order (the export's main graph need not be)
  return create(GraphProtoSchema, { name: 'prefill_chunk', node: topologicalOrder(nodes), input: inputs, output: outputs, valueInfo: capture.valueInfo });
}

/** Nodes reordered so each comes after the producers of what it reads (stable otherwise). */
export function topologicalOrder(nodes: NodeProto[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const out of n.output) if (out) producer.set(out, n);
  const done = new Set<NodeProto>();
  const visiting = new Set<NodeProto>();
  const sorted: NodeProto[] = [];
  // iterative DFS: export graphs are deep enough to overflow a recursive one
  for (const root of nodes) {
    if (done.has(root)) continue;
    const stack: Array<{ n: NodeProto; deps: NodeProto[]; next: number }> = [{ n: root, deps: deps(root), next: 0 }];
    visiting.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.deps.length) {
        const d = top.deps[top.next++]!;
        if (done.has(d)) continue;
        if (visiting.has(d)) throw new Error(`loop graph: the nodes form a cycle through ${d.name}`);
        visiting.add(d);
        stack.push({ n: d, deps: deps(d), next: 0 });
      } else {
        stack.pop();
        visiting.delete(top.n);
        done.add(top.n);
        sorted.push(top.n);
      }
    }
  }
  return sorted;

  function deps(n: NodeProto): NodeProto[] {
    const out: NodeProto[] = [];
    for (const r of nodeReads(n)) {
      const p = producer.get(r);
      if (p && p !== n) out.push(p);
    }
    return out;
  }
}

/** Element type of the export's past KV inputs (the model's compute dtype). */
function kvElemType(inputs: ValueInfoProto[]): number {
  const past = inputs.find((i) => PAST.test(i.name));
  if (!past) throw new UserError('the export has no past_key_values inputs; export the model with past key values (KV cache)');
  return past.type?.value.case === 'tensorType' ? past.type.value.value.elemType : DT.FLOAT;
}
