import { clone, create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from 'onnx-buf';
import { DT, int64Tensor, makeNode, valueInfo } from './onnx-graph.js';
import { LAYER_CAPTURE_IO } from './capture-surgery.js';
import type { LayerSlices } from './layer-slices.js';

/** Names of the layer-switch graph's own inputs and outputs (the contract with layer-session.ts). */
export const SWITCH_IO = {
  /** int64 scalar: which layer this run computes */
  layer: 'layer_index',
  /** the layer's past, in the slice's cache layout */
  past: (kind: 'key' | 'value') => `layer_past.${kind}`,
  /** residual-stream tensors entering the layer (ignored by layer 0, which embeds input_ids) */
  residualIn: (slot: number) => `residual_in.${slot}`,
  /** residual-stream tensors leaving it (the last layer passes its input through) */
  residualOut: (slot: number) => `residual_out.${slot}`,
  /** this chunk's cache rows (or the export's present around fused attention) */
  cache: (kind: 'key' | 'value') => `layer_cache.${kind}`,
  hidden: 'layer_capture_hidden',
  queries: 'layer_capture_queries',
  keys: 'layer_capture_keys',
  values: 'layer_capture_values',
} as const;

const PAST_INPUT = /^(past_seq|past_key_values)\.(\d+)\.(key|value)$/;

/**
 * One graph that runs any single layer, chosen by `layer_index`, as a chain of If nodes whose
 * branches are the layer slices. onnxruntime runs only the taken branch, and one session means
 * one memory arena: with a session per layer, each kept its own peak activations (host memory
 * grew with depth again) or, without arenas, every run paid fresh page faults (~1.7x the CPU
 * time of the chunked prefill). Weights stay initializers of the outer graph (external data).
 */
export function layerSwitchModel(slices: LayerSlices, residualWidth: number): ModelProto {
  const L = slices.models.length;
  const first = slices.models[0]!;
  const sliceGraphs = slices.models.map((m) => m.graph!);
  const initializers = new Map<string, TensorProto>();
  const inputs = new Map<string, ValueInfoProto>();
  for (const [l, g] of sliceGraphs.entries()) {
    for (const t of g.initializer) initializers.set(t.name, t);
    const residualIn = slices.io[l]!.residualIn;
    for (const i of g.input) {
      const m = PAST_INPUT.exec(i.name);
      const slot = residualIn.indexOf(i.name);
      // every layer's past and residual come in under one generic name each
      const name = m ? SWITCH_IO.past(m[3] as 'key' | 'value') : slot >= 0 ? SWITCH_IO.residualIn(slot) : i.name;
      inputs.set(name, name === i.name ? i : renamed(i, name));
    }
  }
  const outputTypes = outputInfos(sliceGraphs, slices, residualWidth);
  const outNames = outputTypes.map((o) => o.name);

  const nodes: NodeProto[] = [];
  for (let l = 0; l + 1 < L; l++) {
    nodes.push(makeNode('Constant', [], [`/switch/layer${l}`], `/switch/Constant_${l}`, { value: int64Tensor('', [l], []) }));
    nodes.push(makeNode('Equal', [SWITCH_IO.layer, `/switch/layer${l}`], [`/switch/is_layer${l}`], `/switch/Equal_${l}`));
  }
  // nested: If(layer == 0) { slice 0 } else { If(layer == 1) { slice 1 } else { … slice L-1 } }
  const chain = (l: number, names: string[]): NodeProto[] => {
    if (l === L - 1) return branchBody(sliceGraphs[l]!, slices, l, residualWidth, names);
    const prefix = (tag: string) => names.map((_, i) => `/switch/${tag}${l}/out${i}`);
    const thenNames = prefix('then');
    const elseNames = prefix('else');
    const thenGraph = branchGraph(`then${l}`, branchBody(sliceGraphs[l]!, slices, l, residualWidth, thenNames), thenNames, outputTypes);
    const elseGraph = branchGraph(`else${l}`, chain(l + 1, elseNames), elseNames, outputTypes);
    const ifNode = makeNode('If', [`/switch/is_layer${l}`], names, `/switch/If_${l}`);
    ifNode.attribute.push(graphAttr('then_branch', thenGraph), graphAttr('else_branch', elseGraph));
    return [ifNode];
  };
  nodes.push(...chain(0, outNames));

  const graph = create(GraphProtoSchema, {
    name: `${sliceGraphs[0]!.name.replace(/_layer0$/, '')}_layer_switch`,
    node: nodes,
    input: [valueInfo(SWITCH_IO.layer, DT.INT64, []), ...inputs.values()],
    output: outputTypes,
    initializer: [...initializers.values()],
  });
  return create(ModelProtoSchema, {
    irVersion: first.irVersion,
    opsetImport: first.opsetImport,
    producerName: first.producerName,
    producerVersion: first.producerVersion,
    domain: first.domain,
    graph,
    metadataProps: [
      ...first.metadataProps.filter((p) => p.key !== 'poc.layer_slice'),
      create(StringStringEntryProtoSchema, { key: 'poc.layer_switch', value: JSON.stringify({ layers: L, residualWidth }) }),
    ],
  });
}

/**
 * Slice `l`'s nodes reading the switch's generic inputs, plus Identity nodes naming its results
 * `names` in SWITCH output order (a branch may not return an outer value directly, so the last
 * layer passes its residual input on through an Identity too).
 */
function branchBody(g: GraphProto, slices: LayerSlices, l: number, residualWidth: number, names: string[]): NodeProto[] {
  const io = slices.io[l]!;
  const rename = new Map<string, string>();
  for (const i of g.input) {
    const m = PAST_INPUT.exec(i.name);
    if (m) rename.set(i.name, SWITCH_IO.past(m[3] as 'key' | 'value'));
  }
  io.residualIn.forEach((t, slot) => rename.set(t, SWITCH_IO.residualIn(slot)));
  const nodes = g.node.map((n) => {
    if (!n.input.some((x) => rename.has(x))) return n;
    const copy = clone(NodeProtoSchema, n);
    copy.input = n.input.map((x) => rename.get(x) ?? x);
    return copy;
  });
  const results: string[] = [];
  for (let slot = 0; slot < residualWidth; slot++) {
    results.push(io.residualOut[slot] ?? SWITCH_IO.residualIn(slot));
  }
  results.push(io.cacheOut.key, io.cacheOut.value, LAYER_CAPTURE_IO.hidden(l), LAYER_CAPTURE_IO.queries(l));
  if (g.output.some((o) => o.name === LAYER_CAPTURE_IO.keys(l))) results.push(LAYER_CAPTURE_IO.keys(l));
  if (g.output.some((o) => o.name === LAYER_CAPTURE_IO.values(l))) results.push(LAYER_CAPTURE_IO.values(l));
  if (results.length !== names.length) throw new Error(`layer switch: layer ${l} has ${results.length} results, expected ${names.length}`);
  results.forEach((r, i) => nodes.push(makeNode('Identity', [r], [names[i]!], `/switch/layer${l}/Identity_${i}`)));
  return nodes;
}

/**
 * Layer `l`'s slice alone as a model with the switch's generic inputs and outputs (no
 * `layer_index`): what the streamed prefill opens one at a time, so that a session holds one
 * layer's weights. It returns residual_out slots only where the layer feeds a next one.
 */
export function singleLayerModel(slices: LayerSlices, l: number, residualWidth: number): ModelProto {
  const m = slices.models[l]!;
  const g = m.graph!;
  const io = slices.io[l]!;
  const inputs = g.input.map((i) => {
    const past = PAST_INPUT.exec(i.name);
    const slot = io.residualIn.indexOf(i.name);
    const name = past ? SWITCH_IO.past(past[3] as 'key' | 'value') : slot >= 0 ? SWITCH_IO.residualIn(slot) : i.name;
    return name === i.name ? i : renamed(i, name);
  });
  const types = outputInfos(slices.models.map((x) => x.graph!), slices, residualWidth);
  // the switch's outputs in order, without the residual slots this layer does not produce
  const keep = types.filter((t, i) => i >= residualWidth || i < io.residualOut.length);
  const names = keep.map((t) => t.name);
  const nodes = branchBody(g, slices, l, residualWidth, [...Array.from({ length: residualWidth }, (_, i) => `/slice/unused_residual${i}`), ...names.slice(io.residualOut.length)]);
  // branchBody ends with one Identity per result: rename the residual ones kept, drop the others
  const identities = nodes.splice(nodes.length - types.length, types.length);
  identities.forEach((n, i) => {
    if (i < residualWidth) {
      if (i < io.residualOut.length) nodes.push(makeNode('Identity', [n.input[0]!], [SWITCH_IO.residualOut(i)], n.name));
    } else nodes.push(n);
  });
  const graph = create(GraphProtoSchema, {
    name: g.name,
    node: nodes,
    input: inputs,
    output: keep,
    initializer: g.initializer,
    valueInfo: g.valueInfo,
  });
  return create(ModelProtoSchema, {
    irVersion: m.irVersion,
    opsetImport: m.opsetImport,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    graph,
    metadataProps: m.metadataProps,
  });
}

function branchGraph(name: string, nodes: NodeProto[], names: string[], types: ValueInfoProto[]): GraphProto {
  return create(GraphProtoSchema, { name, node: nodes, output: names.map((n, i) => renamed(types[i]!, n)) });
}

/** The switch's outputs with the element types of slice 0's results (every slice returns the same kinds). */
function outputInfos(graphs: GraphProto[], slices: LayerSlices, residualWidth: number): ValueInfoProto[] {
  const out = (g: GraphProto, name: string) => g.output.find((o) => o.name === name)!;
  const g0 = graphs[0]!;
  const io0 = slices.io[0]!;
  const elemOf = (v: ValueInfoProto) => (v.type?.value.case === 'tensorType' ? v.type.value.value.elemType : DT.FLOAT);
  const residualType = io0.residualOut[0] ? elemOf(out(g0, io0.residualOut[0])) : DT.FLOAT;
  const infos: ValueInfoProto[] = [];
  for (let slot = 0; slot < residualWidth; slot++) infos.push(typeOnly(SWITCH_IO.residualOut(slot), residualType));
  infos.push(typeOnly(SWITCH_IO.cache('key'), elemOf(out(g0, io0.cacheOut.key))), typeOnly(SWITCH_IO.cache('value'), elemOf(out(g0, io0.cacheOut.value))));
  // the captured rows keep the slices' type: float16, or float32 when rounded on the host
  const rowType = elemOf(out(g0, LAYER_CAPTURE_IO.hidden(0)));
  infos.push(typeOnly(SWITCH_IO.hidden, rowType), typeOnly(SWITCH_IO.queries, rowType));
  if (g0.output.some((o) => o.name === LAYER_CAPTURE_IO.keys(0))) infos.push(typeOnly(SWITCH_IO.keys, rowType));
  if (g0.output.some((o) => o.name === LAYER_CAPTURE_IO.values(0))) infos.push(typeOnly(SWITCH_IO.values, rowType));
  return infos;
}

/** A value info of `elemType` without a shape (branches of an If may differ in dims). */
function typeOnly(name: string, elemType: number): ValueInfoProto {
  const v = valueInfo(name, elemType, []);
  if (v.type?.value.case === 'tensorType') v.type.value.value.shape = undefined;
  return v;
}

function renamed(v: ValueInfoProto, name: string): ValueInfoProto {
  const copy = clone(ValueInfoProtoSchema, v);
  copy.name = name;
  return copy;
}

function graphAttr(name: string, g: GraphProto) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g });
}
