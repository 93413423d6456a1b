import { UserError } from '../../errors.js';
import type { LayerTaps } from './find-projections.js';
import { dependencies, type GraphIndex } from './graph-index.js';

/** Ops that only read a tensor's shape: their outputs do not carry the token stream. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/**
 * Tensors that carry the token stream: everything computed from input_ids' values (the
 * embedding and all layers), but not the causal mask, rotary tables or sequence lengths,
 * which read input_ids only through Shape. Those shared subgraphs are recomputed by every
 * layer slice that needs them; stream tensors are owned by exactly one slice.
 */
export function streamTensors(ix: GraphIndex): Set<string> {
  const stream = new Set<string>(['input_ids']);
  const stack = ['input_ids'];
  while (stack.length > 0) {
    const t = stack.pop()!;
    for (const n of ix.consumers.get(t) ?? []) {
      if (SHAPE_ONLY.has(n.opType)) continue;
      for (const o of n.output) {
        if (o && !stream.has(o)) {
          stream.add(o);
          stack.push(o);
        }
      }
    }
  }
  return stream;
}

/** Most nodes walked from a norm's output back to the residual stream before giving up. */
const MAX_NORM_NODES = 64;

/**
 * For each layer, the residual-stream tensors entering its input_layernorm: the cut at
 * which the model is split into per-layer slices. Walks upstream from the norm's output
 * (the capture tap) over stream tensors and stops at
 *  - a tensor that also feeds something the norm's output does not depend on (the residual
 *    fans out to the attention block's residual Add: decomposed RMSNorm,
 *    SimplifiedLayerNormalization), or
 *  - the inputs of a node that also emits a stream tensor used elsewhere (a fused
 *    SkipSimplifiedLayerNormalization: it reads the residual and the previous block's
 *    output and passes their sum on through its output 3; both inputs are the cut).
 * Must run on the full export (before pruning), where every layer's residual is still read
 * by its attention block. Returns one list of tensor names per layer.
 */
export function findResidualCuts(ix: GraphIndex, taps: LayerTaps[]): string[][] {
  const stream = streamTensors(ix);
  return taps.map((tap) => {
    const anc = dependencies([tap.hidden], ix).nodes;
    const cut: string[] = [];
    const seen = new Set<string>();
    const frontier = [tap.hidden];
    let walked = 0;
    const fail = (why: string) =>
      new UserError(`layer ${tap.layer}: cannot find the residual stream entering input_layernorm (output ${tap.hidden}): ${why}; use --prefill chunks`);
    while (frontier.length > 0) {
      const t = frontier.shift()!;
      if (seen.has(t)) continue;
      seen.add(t);
      if (t !== tap.hidden && (ix.consumers.get(t) ?? []).some((c) => !anc.has(c))) {
        cut.push(t);
        continue;
      }
      const n = ix.producer.get(t);
      if (!n) throw fail(`reached the graph input ${t}`);
      if (++walked > MAX_NORM_NODES) throw fail(`no fan-out within ${MAX_NORM_NODES} nodes`);
      const streamIn = n.input.filter((x) => x !== '' && stream.has(x));
      if (streamIn.length === 0) throw fail(`node ${n.name || n.opType} reads no token-stream tensor`);
      const carriesOn = n.output.some((o) => o !== '' && o !== t && stream.has(o) && (ix.consumers.get(o) ?? []).some((c) => !anc.has(c)));
      if (carriesOn) {
        for (const x of streamIn) if (!cut.includes(x)) cut.push(x);
        continue;
      }
      frontier.push(...streamIn);
    }
    if (cut.includes('input_ids')) throw fail('the walk reached input_ids');
    return cut;
  });
}
