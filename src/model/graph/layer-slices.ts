import { clone, create } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { UserError } from '../../errors.js';
import { CACHE_IO, LAYER_CAPTURE_IO, rewriteForCapture } from './capture-surgery.js';
import type { ModelGeometry } from '../config.js';
import { findLayerTaps } from './find-projections.js';
import { indexGraph, nodeReads } from './graph-index.js';
import { findResidualCuts, streamTensors } from './residual-cuts.js';
import { valueInfo } from './onnx-graph.js';

/** Bumped whenever slicing changes, so cached slice graphs of older versions are not reused. */
export const LAYER_SLICE_VERSION = 3;

/** What the runtime needs to know about one layer's slice graph beyond the file. */
export interface LayerSliceIo {
  layer: number;
  /** residual-stream tensors this slice reads (none for layer 0, which embeds input_ids itself) */
  residualIn: string[];
  /** residual-stream tensors it returns for the next layer (none for the last layer) */
  residualOut: string[];
  /** its cache outputs: this chunk's rows sequence-major (present_chunk.N.*), or the export's present.N.* around fused attention */
  cacheOut: { key: string; value: string };
}

/** A model cut into one graph per decoder layer, each a complete ONNX model over the same external data. */
export interface LayerSlices {
  models: ModelProto[];
  io: LayerSliceIo[];
  /** the past comes in sequence-major (past_seq.N.*) as in the chunked capture graph; false around fused attention ops */
  seqMajorCache: boolean;
}

const PAST_NAME = /^(past_seq|past_key_values)\.(\d+)\.(key|value)$/;
const SHAPE_OPS = new Set(['Shape', 'Size']);

/**
 * Cut a decoder export (in place: it is rewritten first) into per-layer slice graphs at the
 * residual stream entering each input_layernorm. Slice l reads that stream (or input_ids for
 * l = 0), runs layer l's norm, attention inputs and captures, its attention output and MLP,
 * and returns the next layer's stream, its own cache rows and its captured rows. Shared
 * subgraphs (causal mask, rotary tables, sequence lengths) are kept in every slice that
 * needs them; where one reads another layer's past (for its shape only), it reads this
 * layer's instead, whose length is the same. Weights stay in the external data file.
 */
export function sliceByLayer(model: ModelProto, g: ModelGeometry, opts: { withKeys: boolean; withValues?: boolean; rowsOnHost?: boolean }): LayerSlices {
  const graph = model.graph;
  if (!graph) throw new UserError('the .onnx file holds no graph');
  // the cut is found on the full export, where each layer's residual still feeds its attention block
  const fullIx = indexGraph(graph);
  const taps = findLayerTaps(graph, fullIx, g);
  const cuts = findResidualCuts(fullIx, taps);
  rewriteForCapture(model, g, { withKeys: opts.withKeys, withValues: opts.withValues, perLayer: true, rowsOnHost: opts.rowsOnHost });
  const ix = indexGraph(graph);
  const seqMajorCache = graph.input.some((i) => i.name === CACHE_IO.past(0, 'key'));
  const stream = streamTensors(ix);
  const graphInputs = new Map(graph.input.map((i) => [i.name, i]));
  const graphOutputs = new Map(graph.output.map((o) => [o.name, o]));
  const elemType = kvElemType(graph.input);
  const owner = new Map<NodeProto, number>();
  const models: ModelProto[] = [];
  const io: LayerSliceIo[] = [];

  // the residual has the rank of the norm output it feeds ([1, seq, hidden], or [seq, hidden]
  // when the export flattens tokens): a known rank and width let onnxruntime infer the shapes
  // in the slice, as it can in the whole graph, for its fusions and memory planning
  const flat = taps[0]!.hiddenFlat;
  const residualInfo = (t: string) => valueInfo(t, elemType, flat ? ['sequence_length', g.hiddenSize] : [1, 'sequence_length', g.hiddenSize]);
  for (let l = 0; l < g.nLayers; l++) {
    const residualIn = l === 0 ? [] : cuts[l]!;
    const residualOut = l + 1 < g.nLayers ? cuts[l + 1]! : [];
    const cacheOut = seqMajorCache
      ? { key: CACHE_IO.chunk(l, 'key'), value: CACHE_IO.chunk(l, 'value') }
      : { key: taps[l]!.present.key, value: taps[l]!.present.value };
    const captures = [
      LAYER_CAPTURE_IO.hidden(l), LAYER_CAPTURE_IO.queries(l),
      ...(opts.withKeys ? [LAYER_CAPTURE_IO.keys(l)] : []), ...(opts.withValues ? [LAYER_CAPTURE_IO.values(l)] : []),
    ];
    for (const name of [cacheOut.key, cacheOut.value, ...captures]) {
      if (!graphOutputs.has(name)) throw new Error(`layer slicing: the capture graph has no output ${name}`);
    }
    const fromCut = downstream(residualIn, ix);
    const rename = (n: NodeProto, t: string) => {
      // another layer's past, read by a shared node for its shape: this layer's has the same shape
      const m = PAST_NAME.exec(t);
      if (m && Number(m[2]) !== l) return `${m[1]}.${l}.${m[3]}`;
      // the shape of an earlier layer's stream tensor (transformers sizes the causal mask by
      // inputs_embeds): every residual-stream tensor is [batch, seq, hidden], so read this
      // slice's residual input instead of pulling in the layers before it
      if (l > 0 && SHAPE_OPS.has(n.opType) && stream.has(t) && !fromCut.has(t)) return residualIn[0]!;
      return t;
    };
    const stopAt = new Set(residualIn);
    const live = new Set<NodeProto>();
    const needed = new Set<string>();
    const stack = [...residualOut, cacheOut.key, cacheOut.value, ...captures];
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (needed.has(t)) continue;
      needed.add(t);
      if (stopAt.has(t)) continue;
      const n = ix.producer.get(t);
      if (!n || live.has(n)) continue;
      live.add(n);
      for (const r of nodeReads(n)) stack.push(rename(n, r));
    }
    for (const t of residualIn) {
      if (!needed.has(t)) throw new Error(`layer slicing: layer ${l} does not read its residual input ${t}`);
    }
    // each token-stream node must belong to one slice: otherwise the cut missed a path and a
    // slice would recompute (or need) earlier layers
    for (const n of live) {
      if (!n.output.some((o) => stream.has(o))) continue;
      const prev = owner.get(n);
      if (prev !== undefined) {
        throw new UserError(`layer ${l}: node ${n.name || n.opType} is also needed by layer ${prev}; the residual cut does not separate the layers of this export; use --prefill chunks`);
      }
      owner.set(n, l);
    }
    // sorted: the capture surgery appends its cache nodes last, which a main graph tolerates
    // but a subgraph (an If branch of the layer switch) must not have
    const nodes = topoSorted(graph.node.filter((n) => live.has(n)).map((n) => withRenamedInputs(n, (t) => rename(n, t))));
    const inputs: ValueInfoProto[] = [
      ...residualIn.map((t) => residualInfo(t)),
      ...graph.input.filter((i) => needed.has(i.name)),
    ];
    const outputs: ValueInfoProto[] = [
      ...residualOut.map((t) => residualInfo(t)),
      graphOutputs.get(cacheOut.key)!,
      graphOutputs.get(cacheOut.value)!,
      ...captures.map((c) => graphOutputs.get(c)!),
    ];
    const produced = new Set(nodes.flatMap((n) => n.output));
    const sliceGraph = create(GraphProtoSchema, {
      name: `${graph.name}_layer${l}`,
      node: nodes,
      input: inputs,
      output: outputs,
      initializer: graph.initializer.filter((t) => needed.has(t.name)),
      valueInfo: graph.valueInfo.filter((v) => produced.has(v.name) && !graphInputs.has(v.name)),
    });
    models.push(
      create(ModelProtoSchema, {
        irVersion: model.irVersion,
        opsetImport: model.opsetImport,
        producerName: model.producerName,
        producerVersion: model.producerVersion,
        domain: model.domain,
        graph: sliceGraph,
        metadataProps: [
          ...model.metadataProps,
          create(StringStringEntryProtoSchema, { key: 'poc.layer_slice', value: JSON.stringify({ version: LAYER_SLICE_VERSION, layer: l, of: g.nLayers }) }),
        ],
      }),
    );
    io.push({ layer: l, residualIn, residualOut, cacheOut });
  }
  return { models, io, seqMajorCache };
}

/** Nodes in an order where each reads only tensors produced before it (stable otherwise). */
function topoSorted(nodes: NodeProto[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o) producer.set(o, n);
  const done = new Set<NodeProto>();
  const out: NodeProto[] = [];
  const visit = (n: NodeProto) => {
    // iterative depth-first: graphs of 8B models are deep enough to overflow a recursive walk
    const stack: Array<{ node: NodeProto; next: number; reads: string[] }> = [{ node: n, next: 0, reads: nodeReads(n) }];
    const onStack = new Set<NodeProto>([n]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.reads.length) {
        const p = producer.get(top.reads[top.next++]!);
        if (p && !done.has(p) && !onStack.has(p)) {
          onStack.add(p);
          stack.push({ node: p, next: 0, reads: nodeReads(p) });
        }
        continue;
      }
      stack.pop();
      onStack.delete(top.node);
      done.add(top.node);
      out.push(top.node);
    }
  };
  for (const n of nodes) if (!done.has(n)) visit(n);
  return out;
}

/** Tensors computed from `sources` (and the sources themselves). */
function downstream(sources: string[], ix: ReturnType<typeof indexGraph>): Set<string> {
  const seen = new Set(sources);
  const stack = [...sources];
  while (stack.length > 0) {
    for (const n of ix.consumers.get(stack.pop()!) ?? []) {
      for (const o of n.output) {
        if (o && !seen.has(o)) {
          seen.add(o);
          stack.push(o);
        }
      }
    }
  }
  return seen;
}

/** The node, or a copy reading renamed inputs when any of its inputs is renamed. */
function withRenamedInputs(n: NodeProto, rename: (t: string) => string): NodeProto {
  const input = n.input.map((x) => (x === '' ? x : rename(x)));
  if (input.every((x, i) => x === n.input[i])) return n;
  const copy = clone(NodeProtoSchema, n);
  copy.input = input;
  return copy;
}

/** Element type of the export's KV cache (the model's compute dtype, which the residual stream shares). */
function kvElemType(inputs: ValueInfoProto[]): number {
  const past = inputs.find((i) => PAST_NAME.test(i.name));
  const t = past?.type?.value;
  if (t?.case !== 'tensorType') throw new UserError('the export has no past key/value inputs; export the model with past key values (KV cache)');
  return t.value.elemType;
}
