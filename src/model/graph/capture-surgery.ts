import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, type ModelProto, type NodeProto } from 'onnx-buf';
import { UserError } from '../../errors.js';
import type { ModelGeometry } from '../config.js';
import { findLayerTaps } from './find-projections.js';
import { dependencies, indexGraph } from './graph-index.js';
import { DT, int64Tensor, makeNode, valueInfo } from './onnx-graph.js';

/** Bumped whenever the rewrite changes, so cached capture graphs of older versions are not reused. */
export const SURGERY_VERSION = 2;

const FUSED_ATTENTION = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention', 'PackedMultiHeadAttention']);

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
  /** float16 [L, P, n_kv_heads*head_dim]: value projection outputs v_proj(hidden), no RoPE (optional) */
  values: 'capture_values',
} as const;

/**
 * Per-layer capture outputs of a graph rewritten with `perLayer` (the input of layer
 * slicing): the same rows as CAPTURE_IO, one tensor per layer instead of a Concat over
 * layers, so each layer's slice can emit its own.
 */
export const LAYER_CAPTURE_IO = {
  /** float16 [1, P, hidden] */
  hidden: (layer: number) => `capture_hidden.${layer}`,
  /** float16 [1, P, n_heads*head_dim] */
  queries: (layer: number) => `capture_queries.${layer}`,
  /** float16 [1, n_kv_heads, P, head_dim] */
  keys: (layer: number) => `capture_keys.${layer}`,
  /** float16 [1, P, n_kv_heads*head_dim] */
  values: (layer: number) => `capture_values.${layer}`,
} as const;

/**
 * The KV cache of a capture graph, sequence-major: the past comes in as [1, past_len, n_kv,
 * head_dim] and only this chunk's new rows go out, [1, chunk_len, n_kv, head_dim]. Then the
 * host keeps one growing buffer per layer and feeds a prefix view of it as the past (no
 * copy), and each run copies out the chunk alone, not past + chunk: onnxruntime-node has no
 * IO binding to keep the cache on the device, so this is what bounds host memory and traffic.
 */
export const CACHE_IO = {
  past: (layer: number, kind: 'key' | 'value') => `past_seq.${layer}.${kind}`,
  chunk: (layer: number, kind: 'key' | 'value') => `present_chunk.${layer}.${kind}`,
  /** the export's own names, kept as internal tensors */
  exportPast: (layer: number, kind: 'key' | 'value') => `past_key_values.${layer}.${kind}`,
} as const;

/** What the capture graph emits beyond hidden states and queries. */
export interface SurgeryOptions {
  /** also emit capture_keys (post-RoPE keys at the captured positions) */
  withKeys: boolean;
  /** also emit capture_values (v_proj outputs at the captured positions, tapped at the projection like the queries) */
  withValues?: boolean;
  /**
   * a graph for one-pass prefill: no KV cache output at all, so nothing but the captured rows
   * ever leaves onnxruntime (the past inputs stay and are fed empty)
   */
  onePass?: boolean;
  /** name each layer's captures LAYER_CAPTURE_IO instead of concatenating them (for layer slicing) */
  perLayer?: boolean;
  /**
   * keep the export's own cache signature (past_key_values.N.* in, present.N.* = past + chunk
   * out) for every export, as around fused attention: the body of the loop graph, where the
   * cache is carried inside onnxruntime and the host never sees it (see loop-graph.ts)
   */
  exportCache?: boolean;
  /**
   * the captured rows leave the graph in the model's float32 and are rounded to float16 on the
   * host (see rowsAsHalf in captured-rows.ts): for a WebGPU device without shader-f16, which
   * cannot run the Cast. An export that computes in float16 cannot run there at all.
   */
  rowsOnHost?: boolean;
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
 * gather each layer's attention input and pre-RoPE queries (and optionally post-RoPE keys
 * and the value projection's outputs) along the sequence axis of batch 0 as float16, drop
 * `logits` and every node and initializer the remaining outputs (captures + present KV) do
 * not need.
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
  const toHalf = (name: string, x: string, elemType: number) => (elemType === DT.FLOAT16 || opts.rowsOnHost ? x : node(name, 'Cast', [x], { to: DT.FLOAT16 }));
  if (opts.rowsOnHost && taps.some((t) => t.elemType === DT.FLOAT16)) throw new UserError(HALF_EXPORT_NEEDS_F16);
  const rowType = capturedRowType(opts);

  const pos = CAPTURE_IO.positions;
  const qWidth = g.nHeads * g.headDim;
  const hiddenRows: string[] = [];
  const queryRows: string[] = [];
  const keyRows: string[] = [];
  const valueRows: string[] = [];
  const withValues = opts.withValues ?? false;
  let absPositions = '';
  let qSlice: string[] = [];
  let vSlice: string[] = [];
  if (taps.some((t) => t.packed)) {
    const s = '/capture/queries';
    qSlice = [constant(`${s}/Constant_start`, [0]), constant(`${s}/Constant_end`, [qWidth]), constant(`${s}/Constant_axis`, [2])];
    if (withValues) {
      // a packed projection lays out q | k | v: v is the last n_kv_heads·head_dim columns
      const kvWidth = g.nKvHeads * g.headDim;
      const v = '/capture/values';
      vSlice = [constant(`${v}/Constant_start`, [qWidth + kvWidth]), constant(`${v}/Constant_end`, [qWidth + 2 * kvWidth]), qSlice[2]!];
    }
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
    if (withValues) {
      // at the projection, as the queries: rows [1, P, n_kv·head_dim], heads side by side
      let v = gatherRows(`${s}/values`, t.values, t.valuesFlat);
      if (t.packed) v = node(`${s}/values/Slice`, 'Slice', [v, ...vSlice]);
      valueRows.push(toHalf(`${s}/values/Cast`, v, t.elemType));
    }
  }
  if (opts.perLayer) {
    // Identity to a fixed name: a slice returns its layer's rows without knowing the tap names
    taps.forEach((t, i) => {
      added.push(makeNode('Identity', [hiddenRows[i]!], [LAYER_CAPTURE_IO.hidden(t.layer)], `/capture/layers.${t.layer}/hidden/Identity`));
      added.push(makeNode('Identity', [queryRows[i]!], [LAYER_CAPTURE_IO.queries(t.layer)], `/capture/layers.${t.layer}/queries/Identity`));
      if (opts.withKeys) added.push(makeNode('Identity', [keyRows[i]!], [LAYER_CAPTURE_IO.keys(t.layer)], `/capture/layers.${t.layer}/keys/Identity`));
      if (withValues) added.push(makeNode('Identity', [valueRows[i]!], [LAYER_CAPTURE_IO.values(t.layer)], `/capture/layers.${t.layer}/values/Identity`));
    });
  } else {
    added.push(makeNode('Concat', hiddenRows, [CAPTURE_IO.hidden], '/capture/hidden/Concat', { axis: 0 }));
    added.push(makeNode('Concat', queryRows, [CAPTURE_IO.queries], '/capture/queries/Concat', { axis: 0 }));
    if (opts.withKeys) added.push(makeNode('Concat', keyRows, [CAPTURE_IO.keys], '/capture/keys/Concat', { axis: 0 }));
    if (withValues) added.push(makeNode('Concat', valueRows, [CAPTURE_IO.values], '/capture/values/Concat', { axis: 0 }));
  }
  graph.node.push(...added);

  graph.input.push(valueInfo(pos, DT.INT64, ['capture_count']));
  // fused attention ops (GroupQueryAttention) may write present into the past's buffer, which
  // onnxruntime then plans wrongly once past is an intermediate tensor: keep their layout
  const fusedPast = (ix.consumers.get(CACHE_IO.exportPast(0, 'key')) ?? []).some((n) => FUSED_ATTENTION.has(n.opType));
  if (opts.onePass) {
    graph.output = [];
  } else if (fusedPast || opts.exportCache) {
    const presentNames = new Set(taps.flatMap((t) => [t.present.key, t.present.value]));
    graph.output = graph.output.filter((o) => presentNames.has(o.name));
  } else {
    const cacheNodes = sequenceMajorCache(graph, taps, g);
    added.push(...cacheNodes);
    graph.node.push(...cacheNodes);
    graph.output = graph.output.filter((o) => o.name.startsWith('present_chunk.'));
  }
  if (opts.perLayer) {
    for (const t of taps) {
      graph.output.push(
        valueInfo(LAYER_CAPTURE_IO.hidden(t.layer), rowType, [1, 'capture_count', g.hiddenSize]),
        valueInfo(LAYER_CAPTURE_IO.queries(t.layer), rowType, [1, 'capture_count', qWidth]),
      );
      if (opts.withKeys) graph.output.push(valueInfo(LAYER_CAPTURE_IO.keys(t.layer), rowType, [1, g.nKvHeads, 'capture_count', g.headDim]));
      if (withValues) graph.output.push(valueInfo(LAYER_CAPTURE_IO.values(t.layer), rowType, [1, 'capture_count', g.nKvHeads * g.headDim]));
    }
  } else {
    graph.output.push(
      valueInfo(CAPTURE_IO.hidden, rowType, [g.nLayers, 'capture_count', g.hiddenSize]),
      valueInfo(CAPTURE_IO.queries, rowType, [g.nLayers, 'capture_count', qWidth]),
    );
    if (opts.withKeys) graph.output.push(valueInfo(CAPTURE_IO.keys, rowType, [g.nLayers, g.nKvHeads, 'capture_count', g.headDim]));
    if (withValues) graph.output.push(valueInfo(CAPTURE_IO.values, rowType, [g.nLayers, 'capture_count', g.nKvHeads * g.headDim]));
  }

  const nodesAdded = added.length;
  pruneDeadNodes(model);
  model.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'poc.capture_graph', value: JSON.stringify({ version: SURGERY_VERSION, ...opts }) }));
  const nodesAfter = graph.node.length;
  return { nodesBefore, nodesAdded, nodesRemoved: nodesBefore + nodesAdded - nodesAfter, nodesAfter, initializersBefore, initializersAfter: graph.initializer.length };
}

/** The element type the captured rows leave the graph in: float16, or float32 with rowsOnHost. */
export function capturedRowType(opts: Pick<SurgeryOptions, 'rowsOnHost'>): number {
  return opts.rowsOnHost ? DT.FLOAT : DT.FLOAT16;
}

/** Why an export that computes in float16 cannot be captured on a device without shader-f16 (one line). */
export const HALF_EXPORT_NEEDS_F16 =
  'this export computes in float16, but the WebGPU adapter has no shader-f16 (float16 kernels cannot run on it): use --ep cpu, a GPU with shader-f16, or a float32 export';

/**
 * Swaps the export's past inputs for sequence-major ones (a Transpose restores the layout its
 * attention expects) and adds outputs holding only the chunk's rows of each present tensor
 * (present[:, :, past_len:, :], transposed). Returns the nodes it adds; edits inputs/outputs.
 */
function sequenceMajorCache(graph: NonNullable<ModelProto['graph']>, taps: ReturnType<typeof findLayerTaps>, g: ModelGeometry): NodeProto[] {
  const nodes: NodeProto[] = [];
  const s = '/capture/cache';
  const c = (name: string, values: number[]) => {
    nodes.push(makeNode('Constant', [], [name], name, { value: int64Tensor('', values, [values.length]) }));
    return name;
  };
  const pastLen = `${s}/past_len`;
  const shapeOut = `${s}/Shape_past_output_0`;
  nodes.push(makeNode('Shape', [CACHE_IO.past(0, 'key')], [shapeOut], `${s}/Shape_past`));
  nodes.push(makeNode('Gather', [shapeOut, c(`${s}/Constant_seq_axis`, [1])], [pastLen], `${s}/Gather_past_len`, { axis: 0 }));
  const end = c(`${s}/Constant_end`, [Number.MAX_SAFE_INTEGER]);
  const axis = c(`${s}/Constant_axis`, [2]);
  for (const t of taps) {
    for (const kind of ['key', 'value'] as const) {
      const exportName = CACHE_IO.exportPast(t.layer, kind);
      const at = graph.input.findIndex((i) => i.name === exportName);
      if (at < 0) throw new UserError(`layer ${t.layer}: the export has no input ${exportName}; export the model with past key values (KV cache)`);
      const elemType = graph.input[at]!.type?.value.case === 'tensorType' ? graph.input[at]!.type!.value.value.elemType : DT.FLOAT;
      graph.input[at] = valueInfo(CACHE_IO.past(t.layer, kind), elemType, [1, 'past_sequence_length', g.nKvHeads, g.headDim]);
      const p = `${s}/layers.${t.layer}/${kind}`;
      nodes.push(makeNode('Transpose', [CACHE_IO.past(t.layer, kind)], [exportName], `${p}/Transpose_past`, { perm: [0, 2, 1, 3] }));
      const present = kind === 'key' ? t.present.key : t.present.value;
      const sliced = `${p}/Slice_chunk_output_0`;
      nodes.push(makeNode('Slice', [present, pastLen, end, axis], [sliced], `${p}/Slice_chunk`));
      nodes.push(makeNode('Transpose', [sliced], [CACHE_IO.chunk(t.layer, kind)], `${p}/Transpose_chunk`, { perm: [0, 2, 1, 3] }));
      graph.output.push(valueInfo(CACHE_IO.chunk(t.layer, kind), elemType, [1, 'chunk_length', g.nKvHeads, g.headDim]));
    }
  }
  return nodes;
}

/**
 * Keep only the nodes the graph outputs depend on, and the initializers and value infos
 * they use: onnxruntime executes every node, wanted or not, so dead ones cost real time.
 */
export function pruneDeadNodes(model: ModelProto): void {
  const graph = model.graph!;
  const { nodes: live, tensors: needed } = dependencies(graph.output.map((o) => o.name), indexGraph(graph));
  graph.node = graph.node.filter((n) => live.has(n));
  graph.initializer = graph.initializer.filter((t) => needed.has(t.name));
  const produced = new Set(graph.node.flatMap((n) => n.output));
  graph.valueInfo = graph.valueInfo.filter((v) => produced.has(v.name));
}
