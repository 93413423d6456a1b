import type { GraphProto, NodeProto, TensorProto } from 'onnx-buf';

/**
 * Lookup tables over one graph: who produces and who consumes each tensor, and which
 * names are initializers (or Constant outputs). Built once; the graph is not modified.
 */
export interface GraphIndex {
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  initializer: Map<string, TensorProto>;
  /** Constant node outputs, with their tensor (value attribute) */
  constant: Map<string, TensorProto>;
  /** position of each node in graph.node (topological order) */
  order: Map<NodeProto, number>;
}

/** Index a graph's nodes and initializers by tensor name. */
export function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  const constant = new Map<string, TensorProto>();
  const order = new Map<NodeProto, number>();
  graph.node.forEach((node, i) => {
    order.set(node, i);
    for (const out of node.output) if (out) producer.set(out, node);
    for (const inp of node.input) {
      if (!inp) continue;
      let list = consumers.get(inp);
      if (!list) consumers.set(inp, (list = []));
      list.push(node);
    }
    if (node.opType === 'Constant' && node.domain === '') {
      const value = node.attribute.find((a) => a.name === 'value')?.t;
      if (value && node.output[0]) constant.set(node.output[0], value);
    }
  });
  const initializer = new Map(graph.initializer.map((t) => [t.name, t]));
  return { producer, consumers, initializer, constant, order };
}

/** Integer attribute of a node, or `fallback` when absent. */
export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : fallback;
}

/** Names of every tensor a node reads, including those its subgraphs (If/Loop bodies) read. */
export function nodeReads(node: NodeProto): string[] {
  const names = node.input.filter((x) => x !== '');
  for (const a of node.attribute) {
    for (const g of [a.g, ...a.graphs]) {
      if (!g) continue;
      for (const n of g.node) names.push(...nodeReads(n));
    }
  }
  return names;
}

/**
 * What `roots` depend on, transitively and through subgraph reads: the producing nodes and
 * every tensor name on the way (graph inputs and initializers included).
 */
export function dependencies(roots: Iterable<string>, ix: GraphIndex): { nodes: Set<NodeProto>; tensors: Set<string> } {
  const nodes = new Set<NodeProto>();
  const tensors = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (tensors.has(t)) continue;
    tensors.add(t);
    const n = ix.producer.get(t);
    if (!n || nodes.has(n)) continue;
    nodes.add(n);
    for (const r of nodeReads(n)) if (!tensors.has(r)) stack.push(r);
  }
  return { nodes, tensors };
}
