/**
 * Which execution provider ran each node, read from an onnxruntime profile (session option
 * `enableProfiling`; one "Node" event per kernel run, with `args.provider` and `args.op_name`).
 * The WebGPU provider leaves nodes it has no kernel for to the CPU provider without a word
 * (and onnxruntime puts small shape computations there on purpose): this is how to see which.
 */
export interface NodePlacement {
  node: string;
  op: string;
  /** e.g. "WebGpuExecutionProvider", "CPUExecutionProvider" */
  provider: string;
  /** element types of the node's inputs as the profile records them (e.g. "float", "int64") */
  inputTypes: string[];
  outputTypes: string[];
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; provider?: string; input_type_shape?: Array<Record<string, unknown>>; output_type_shape?: Array<Record<string, unknown>> };
}

/** One entry per node that ran (its first run), in the order of the profile. */
export function nodePlacement(profileJson: string): NodePlacement[] {
  const events = JSON.parse(profileJson) as ProfileEvent[];
  const seen = new Map<string, NodePlacement>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    if (seen.has(node)) continue;
    const types = (list?: Array<Record<string, unknown>>) => (list ?? []).flatMap((t) => Object.keys(t));
    seen.set(node, { node, op: e.args.op_name ?? '', provider: e.args.provider, inputTypes: types(e.args.input_type_shape), outputTypes: types(e.args.output_type_shape) });
  }
  return [...seen.values()];
}
