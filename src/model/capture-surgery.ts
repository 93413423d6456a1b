import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, type ModelProto, type NodeProto } from 'onnx-buf';
import { UserError } from '../errors.js';
import type { ModelGeometry } from './config.js';
import { findLayerTaps } from './find-projections.js';
import { indexGraph, nodeReads } from './graph-index.js';
import { DT, int64Tensor, makeNode, valueInfo } from './onnx-graph.js';

/** Bumped whenever the rewrite changes, so cached capture graphs of older versions are not reused. */
export const SURGERY_VERSION = 1;

/** Names of the tensors the capture graph adds (the contract between surgery and session). */
export const CAPTURE_IO = {
  /** int64 [P]: positions within the current chunk to gather */
  positions: 'capture_positions',
  /** float16 [L, P, hidden]: attention-block input (after input_layernorm) */
  hidden: 'capture_hidden',
  /** float16 [L, P, n_heads*head_dim]: pre-RoPE queries q_proj(hidden) */
  queries: 'capture_queries',
  /** float16 [L, n_kv_heads, P, head_dim]: post-RoPE keys from present.N.key (optional) */
  keys: 'capture_keys',
} as const;

/** What the capture graph emits beyond hidden states and queries. */
export interface SurgeryOptions {
  /** also emit capture_keys (post-RoPE keys at the captured positions) */
  withKeys: boolean;
}

/** Node counts of a rewrite, for reports and tests. */
export interface SurgeryStats {
  nodesBefore: number;
  /** gather/slice/cast/concat nodes the capture outputs add */
  nodesAdded: number;
  /** nodes dropped as dead (lm_head, final norm, last layer's attention output and MLP, …) */
  nodesRemoved: number;
  nodesAfter: number;
  initializersBefore: number;
  initializersAfter: number;
}

/**
 * Rewrite a Llama decoder graph (in place) into a capture graph: add `capture_positions`,
 * gather each layer's attention input and pre-RoPE queries (and optionally post-RoPE keys)
 * along the sequence axis of batch 0 as float16, drop `logits` and every node and
 * initializer the remaining outputs (captures + present KV) do not need.
 */
export function rewriteForCapture(model: ModelProto, g: ModelGeometry, opts: SurgeryOptions): SurgeryStats {
  const graph = model.graph;
  if (!graph) throw new UserError('the .onnx file holds no graph');
  const ix = indexGraph(graph);
  const taps = findLayerTaps(graph, ix, g);
  const nodesBefore = graph.node.length;
  const initializersBefore = graph.initializer.length;
  for (const name of Object.values(CAPTURE_IO)) {
    if (ix.producer.has(name) || graph.input.some((i) => i.name === name)) throw new UserError(`the graph already has a tensor named ${name}: it looks like a capture graph already`);
  }
  const seqInput = graph.input.find((i) => i.name === 'input_ids');
  const maskInput = graph.input.find((i) => i.name === 'attention_mask');
  if (!seqInput || !maskInput) throw new UserError('the graph lacks the input_ids or attention_mask input of a decoder export');

  const added: NodeProto[] = [];
  const node = (name: string, op: string, inputs: string[], attrs: Parameters<typeof makeNode>[4] = {}): string => {
    const out = `${name}_output_0`;
    added.push(makeNode(op, inputs, [out], name, attrs));
    return out;
  };
  const constant = (name: string, values: number[], dims?: number[]) => node(name, 'Constant', [], { value: int64Tensor('', values, dims) });
  // float16 out whatever the model computes in; a Cast is added only when needed, and it
  // always follows a Gather, so no Cast ever feeds another Cast (see NOTES.md)
  const toHalf = (name: string, x: string, elemType: number) => (elemType === DT.FLOAT16 ? x : node(name, 'Cast', [x], { to: DT.FLOAT16 }));

  const pos = CAPTURE_IO.positions;
  const qWidth = g.nHeads * g.headDim;
  const hiddenRows: string[] = [];
  const queryRows: string[] = [];
  const keyRows: string[] = [];
  let absPositions = '';
  let qSlice: string[] = [];
  if (taps.some((t) => t.packed)) {
    const s = '/capture/queries';
    qSlice = [constant(`${s}/Constant_start`, [0]), constant(`${s}/Constant_end`, [qWidth]), constant(`${s}/Constant_axis`, [2])];
  }
  if (opts.withKeys) {
    // present keys hold past + chunk positions; the captured ones sit past_len further on
    const s = '/capture';
    const one = constant(`${s}/Constant_one`, [1], []);
    const [maskShape, idsShape] = [node(`${s}/Shape_mask`, 'Shape', ['attention_mask']), node(`${s}/Shape_ids`, 'Shape', ['input_ids'])];
    const total = node(`${s}/Gather_total`, 'Gather', [maskShape, one], { axis: 0 });
    const chunk = node(`${s}/Gather_chunk`, 'Gather', [idsShape, one], { axis: 0 });
    const past = node(`${s}/Sub_past`, 'Sub', [total, chunk]);
    absPositions = node(`${s}/Add_positions`, 'Add', [pos, past]);
  }
  // rows of a [1, seq, width] tensor, or of a flattened [seq, width] one (batch 1) put back to [1, P, width]
  let axis0: string | undefined;
  const gatherRows = (name: string, x: string, flat: boolean): string => {
    if (!flat) return node(`${name}/Gather`, 'Gather', [x, pos], { axis: 1 });
    axis0 ??= constant('/capture/Constant_axis0', [0]);
    return node(`${name}/Unsqueeze`, 'Unsqueeze', [node(`${name}/Gather`, 'Gather', [x, pos], { axis: 0 }), axis0]);
  };
  for (const t of taps) {
    const s = `/capture/layers.${t.layer}`;
    const h = gatherRows(`${s}/hidden`, t.hidden, t.hiddenFlat);
    hiddenRows.push(toHalf(`${s}/hidden/Cast`, h, t.elemType));
    let q = gatherRows(`${s}/queries`, t.queries, t.queriesFlat);
    if (t.packed) {
      q = node(`${s}/queries/Slice`, 'Slice', [q, ...qSlice]);
    }
    queryRows.push(toHalf(`${s}/queries/Cast`, q, t.elemType));
    if (opts.withKeys) {
      const k = node(`${s}/keys/Gather`, 'Gather', [t.present.key, absPositions], { axis: 2 });
      keyRows.push(toHalf(`${s}/keys/Cast`, k, t.elemType));
    }
  }
  added.push(makeNode('Concat', hiddenRows, [CAPTURE_IO.hidden], '/capture/hidden/Concat', { axis: 0 }));
  added.push(makeNode('Concat', queryRows, [CAPTURE_IO.queries], '/capture/queries/Concat', { axis: 0 }));
  if (opts.withKeys) added.push(makeNode('Concat', keyRows, [CAPTURE_IO.keys], '/capture/keys/Concat', { axis: 0 }));
  graph.node.push(...added);

  graph.input.push(valueInfo(pos, DT.INT64, ['capture_count']));
  const presentNames = new Set(taps.flatMap((t) => [t.present.key, t.present.value]));
  graph.output = graph.output.filter((o) => presentNames.has(o.name));
  graph.output.push(
    valueInfo(CAPTURE_IO.hidden, DT.FLOAT16, [g.nLayers, 'capture_count', g.hiddenSize]),
    valueInfo(CAPTURE_IO.queries, DT.FLOAT16, [g.nLayers, 'capture_count', qWidth]),
  );
  if (opts.withKeys) graph.output.push(valueInfo(CAPTURE_IO.keys, DT.FLOAT16, [g.nLayers, g.nKvHeads, 'capture_count', g.headDim]));

  const nodesAdded = added.length;
  pruneDeadNodes(model);
  model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'poc.capture_graph', value: JSON.stringify({ version: SURGERY_VERSION, ...opts }) }));
  const nodesAfter = graph.node.length;
  return { nodesBefore, nodesAdded, nodesRemoved: nodesBefore + nodesAdded - nodesAfter, nodesAfter, initializersBefore, initializersAfter: graph.initializer.length };
}

/**
 * Keep only the nodes the graph outputs depend on, and the initializers and value infos
 * they use: onnxruntime executes every node, wanted or not, so dead ones cost real time.
 */
export function pruneDeadNodes(model: ModelProto): void {
  const graph = model.graph!;
  const ix = indexGraph(graph);
  const live = new Set<NodeProto>();
  const needed = new Set<string>();
  const stack = graph.output.map((o) => o.name);
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const n = ix.producer.get(t);
    if (!n || live.has(n)) continue;
    live.add(n);
    for (const r of nodeReads(n)) if (!needed.has(r)) stack.push(r);
  }
  graph.node = graph.node.filter((n) => live.has(n));
  graph.initializer = graph.initializer.filter((t) => needed.has(t.name));
  const produced = new Set(graph.node.flatMap((n) => n.output));
  graph.valueInfo = graph.valueInfo.filter((v) => produced.has(v.name));
}
