import type { GraphProto, NodeProto } from 'onnx-buf';
import { UserError } from '../../errors.js';
import type { ModelGeometry } from '../config.js';
import { intAttr, type GraphIndex } from './graph-index.js';

/** A linear layer found in the graph: y[..., outDim] = x[..., inDim] · W (+ bias). */
export interface Projection {
  node: NodeProto;
  kind: 'MatMul' | 'Gemm' | 'MatMulNBits';
  /** the activation it reads (for a q/k/v projection: the attention block's input hidden state) */
  input: string;
  /** its result, after a bias Add when the export keeps the bias as a separate node */
  output: string;
  inDim: number;
  outDim: number;
  /** element type of the activation (ONNX TensorProto.DataType) */
  elemType: number;
}

/** Where one layer's capture taps are: the attention input and the q (and v) columns of projections. */
export interface LayerTaps {
  layer: number;
  hidden: string;
  /** true when `hidden` is flattened to [tokens, hidden] (Gemm exports): gather along axis 0, batch 1 */
  hiddenFlat: boolean;
  /** tensor holding the pre-RoPE queries in columns [0, qWidth) of its last axis */
  queries: string;
  /** true when `queries` is a packed q|k|v output whose first qWidth columns are q */
  packed: boolean;
  /** true when `queries` is [tokens, width] (a Gemm projection) */
  queriesFlat: boolean;
  /**
   * tensor holding the value projection output (v_proj, no RoPE): the whole last axis, or,
   * when `packed`, its last n_kv_heads·head_dim columns (q | k | v)
   */
  values: string;
  /** true when `values` is [tokens, width] (a Gemm projection) */
  valuesFlat: boolean;
  present: { key: string; value: string };
  elemType: number;
}

const ATTENTION_OPS = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention', 'PackedMultiHeadAttention']);

/** `node` as a projection (MatMul/Gemm with a constant weight, or MatMulNBits), else undefined. */
export function asProjection(node: NodeProto, ix: GraphIndex): Projection | undefined {
  const weightOf = (name: string | undefined) => (name ? (ix.initializer.get(name) ?? ix.constant.get(name)) : undefined);
  let p: Projection | undefined;
  if (node.opType === 'MatMul' && node.domain === '') {
    let dims: number[] | undefined;
    let elemType = 0;
    const w = weightOf(node.input[1]);
    if (w) {
      dims = w.dims.map(Number);
      elemType = w.dataType;
    } else {
      // some exporters keep the [out, in] parameter and transpose it in the graph
      const t = ix.producer.get(node.input[1]!);
      const src = t?.opType === 'Transpose' ? weightOf(t.input[0]) : undefined;
      const perm = t?.attribute.find((a) => a.name === 'perm')?.ints.map(Number);
      if (src && src.dims.length === 2 && (!perm || (perm[0] === 1 && perm[1] === 0))) {
        dims = [Number(src.dims[1]), Number(src.dims[0])];
        elemType = src.dataType;
      }
    }
    if (!dims || dims.length !== 2) return undefined;
    p = { node, kind: 'MatMul', input: node.input[0]!, output: node.output[0]!, inDim: dims[0]!, outDim: dims[1]!, elemType };
  } else if (node.opType === 'Gemm' && node.domain === '') {
    const w = weightOf(node.input[1]);
    if (!w || w.dims.length !== 2 || intAttr(node, 'transA', 0) !== 0) return undefined;
    const transB = intAttr(node, 'transB', 0) === 1;
    const [d0, d1] = [Number(w.dims[0]), Number(w.dims[1])];
    p = { node, kind: 'Gemm', input: node.input[0]!, output: node.output[0]!, inDim: transB ? d1 : d0, outDim: transB ? d0 : d1, elemType: w.dataType };
  } else if (node.opType === 'MatMulNBits' && node.domain === 'com.microsoft') {
    const scales = weightOf(node.input[2]);
    p = {
      node,
      kind: 'MatMulNBits',
      input: node.input[0]!,
      output: node.output[0]!,
      inDim: intAttr(node, 'K', -1),
      outDim: intAttr(node, 'N', -1),
      elemType: scales?.dataType ?? 0,
    };
  }
  if (!p) return undefined;
  // a bias kept as its own Add (MatMul + Add(bias)) belongs to the projection
  const next = ix.consumers.get(p.output);
  if (next?.length === 1 && next[0]!.opType === 'Add') {
    const other = next[0]!.input.find((x) => x !== p!.output);
    const bias = weightOf(other);
    if (bias && bias.dims.length === 1 && Number(bias.dims[0]) === p.outDim) p.output = next[0]!.output[0]!;
  }
  return p;
}

/**
 * The nearest projection upstream of `tensor` (breadth-first over producers), stopping at
 * fused attention ops by following only their `role` input, so a key never leads to q.
 */
function nearestProjection(tensor: string, role: 'key' | 'value', ix: GraphIndex, accept: (p: Projection) => boolean): Projection | undefined {
  const seen = new Set<string>([tensor]);
  let frontier = [tensor];
  for (let depth = 0; depth < 64 && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      const node = ix.producer.get(t);
      if (!node) continue;
      const proj = asProjection(node, ix);
      if (proj && accept(proj)) return proj;
      let inputs = node.input;
      if (ATTENTION_OPS.has(node.opType)) {
        const own = role === 'key' ? node.input[1] : node.input[2];
        inputs = own ? [own] : [node.input[0]!];
      }
      for (const inp of inputs) {
        if (!inp || seen.has(inp) || ix.initializer.has(inp)) continue;
        seen.add(inp);
        next.push(inp);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** Graph outputs holding layer `l`'s present key and value (optimum and genai names). */
function presentOutputs(graph: GraphProto, layer: number): { key?: string; value?: string } {
  const re = new RegExp(`^present[._](?:key_values[._])?${layer}[._](key|value)$`);
  const found: { key?: string; value?: string } = {};
  for (const o of graph.output) {
    const m = re.exec(o.name);
    if (m) found[m[1] as 'key' | 'value'] = o.name;
  }
  return found;
}

/**
 * Locate, for every decoder layer, the attention input and the q projection, by structure
 * and weight shape rather than by name: anchored on the layer's present.key / present.value
 * outputs, the k and v projections are found upstream; q is their sibling reading the same
 * input with a [hidden, n_heads·head_dim] weight, or the first columns of a packed qkv.
 */
export function findLayerTaps(graph: GraphProto, ix: GraphIndex, g: ModelGeometry): LayerTaps[] {
  const qWidth = g.nHeads * g.headDim;
  const kvWidth = g.nKvHeads * g.headDim;
  const packedWidth = qWidth + 2 * kvWidth;
  const weightShapes = `a weight of [${g.hiddenSize}, ${qWidth}] (or a packed qkv of [${g.hiddenSize}, ${packedWidth}])`;
  const taps: LayerTaps[] = [];
  for (let l = 0; l < g.nLayers; l++) {
    const present = presentOutputs(graph, l);
    if (!present.key || !present.value) {
      throw new UserError(`layer ${l}: the graph has no present.${l}.key/present.${l}.value outputs; export the model with past key values (KV cache)`);
    }
    const isKvOrPacked = (p: Projection) => p.inDim === g.hiddenSize && (p.outDim === kvWidth || p.outDim === packedWidth);
    const k = nearestProjection(present.key, 'key', ix, isKvOrPacked);
    const v = nearestProjection(present.value, 'value', ix, isKvOrPacked);
    if (!k || !v) {
      throw new UserError(
        `layer ${l}: cannot find the k/v projections feeding ${present.key}: looked for a MatMul, Gemm or MatMulNBits ` +
          `with a weight of [${g.hiddenSize}, ${kvWidth}] (or packed [${g.hiddenSize}, ${packedWidth}]) upstream of it`,
      );
    }
    if (k.node === v.node) {
      if (k.outDim !== packedWidth) throw new UserError(`layer ${l}: keys and values come from one projection of width ${k.outDim}, expected a packed qkv of ${packedWidth}`);
      const flat = k.kind === 'Gemm';
      taps.push({
        layer: l, hidden: k.input, hiddenFlat: flat, queries: k.output, queriesFlat: flat, values: k.output, valuesFlat: flat,
        packed: true, present: { key: present.key, value: present.value }, elemType: k.elemType,
      });
      continue;
    }
    // a Gemm reads a flattened copy of the attention input: look through Reshape/Flatten
    const isFlatten = (n: NodeProto | undefined) => n !== undefined && (n.opType === 'Reshape' || n.opType === 'Flatten') && n.domain === '';
    const flattener = ix.producer.get(k.input);
    const attnInput = k.kind === 'Gemm' && isFlatten(flattener) ? flattener!.input[0]! : k.input;
    const readers = (ix.consumers.get(attnInput) ?? []).flatMap((n) => (isFlatten(n) ? (ix.consumers.get(n.output[0]!) ?? []) : [n]));
    const candidates = readers
      .filter((n) => n !== k.node && n !== v.node)
      .map((n) => asProjection(n, ix))
      .filter((p): p is Projection => p !== undefined && p.inDim === g.hiddenSize && p.outDim === qWidth);
    if (candidates.length !== 1) {
      const what = candidates.length === 0 ? 'cannot find the q projection' : `found ${candidates.length} candidate q projections`;
      throw new UserError(
        `layer ${l}: ${what}: looked for a MatMul, Gemm or MatMulNBits reading the attention input "${attnInput}" ` +
          `(the input of the k projection ${k.node.name || k.output}) with ${weightShapes}`,
      );
    }
    const q = candidates[0]!;
    taps.push({
      layer: l,
      hidden: attnInput,
      hiddenFlat: attnInput === k.input && k.kind === 'Gemm',
      queries: q.output,
      queriesFlat: q.kind === 'Gemm',
      values: v.output,
      valuesFlat: v.kind === 'Gemm',
      packed: false,
      present: { key: present.key, value: present.value },
      elemType: q.elemType,
    });
  }
  return taps;
}
