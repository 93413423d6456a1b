import type { ModelProto, ValueInfoProto } from 'onnx-buf';
import type { LlamaConfig } from '../config.js';
import { geometryOf, ropeInvFreq } from '../config.js';
import { DT, createGraphBuilder, floatTensor, int64Tensor, makeModel, valueInfo, type DataSlot } from '../graph/onnx-graph.js';
import type { WeightDtype } from './tiny-weights.js';

/**
 * A built export: the ModelProto (every weight external, no bytes inline) and the layout of
 * its external data file, filled afterwards by the streaming writer.
 */
export interface BuiltExport {
  model: ModelProto;
  /** file name the initializers reference, beside model.onnx */
  dataFile: string;
  /** tensors of the data file in offset order, each with the source of its bytes */
  slots: DataSlot[];
  /** size of the data file */
  dataBytes: number;
}

/** Looks up the [out, in] shape of a Hugging Face weight; a missing one is a bug in the exporter. */
export type ShapeOf = (hfName: string) => number[];

/** The weight name holding the output projection: lm_head, or the embedding when tied. */
export function lmHeadSource(cfg: LlamaConfig): string {
  return cfg.tie_word_embeddings === true ? 'model.embed_tokens.weight' : 'lm_head.weight';
}

/**
 * Build the graph optimum's TorchScript exporter produces for LlamaForCausalLM with past
 * key values: decomposed RMSNorm (one up-Cast, …/Mul_1 output), q/k/v/o MatMuls on
 * anonymous `onnx::MatMul_N` weights [in, out], rotate-half RoPE from position_ids, an
 * additive causal+padding mask, repeat_kv by Expand, eager softmax attention, SwiGLU.
 */
export function buildOptimumExport(cfg: LlamaConfig, dtype: WeightDtype, shapeOf: ShapeOf): BuiltExport {
  const dataFile = 'model.onnx_data';
  const g = geometryOf(cfg);
  const T = dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const b = createGraphBuilder(dataFile);
  let anon = 100;
  // torch names MatMul weights by a running counter once it has transposed them
  const matmulWeight = (hfName: string): string => {
    const [out, inp] = shapeOf(hfName) as [number, number];
    return b.weight(`onnx::MatMul_${anon++}`, T, [inp, out], { kind: 'hf', names: [hfName], transpose: true });
  };
  const plainWeight = (hfName: string): string => b.weight(hfName, T, shapeOf(hfName), { kind: 'hf', names: [hfName], transpose: false });
  const i64 = (scope: string, values: number[], dims?: number[]) => b.constant(scope, int64Tensor('', values, dims));
  const fT = (scope: string, value: number) => b.constant(scope, floatTensor('', T, [value], []));
  const f32 = (scope: string, value: number) => b.constant(scope, floatTensor('', DT.FLOAT, [value], []));

  const { nLayers, nHeads, nKvHeads, headDim } = g;
  const groups = nHeads / nKvHeads;

  const rmsNorm = (scope: string, x: string, weightName: string): string => {
    const [x32] = b.op(scope, 'Cast', [x], { to: DT.FLOAT });
    const [sq] = b.op(scope, 'Pow', [x32!, f32(scope, 2)]);
    const [mean] = b.op(scope, 'ReduceMean', [sq!], { axes: [-1], keepdims: 1 });
    const [var_] = b.op(scope, 'Add', [mean!, f32(scope, cfg.rms_norm_eps)]);
    const [rms] = b.op(scope, 'Sqrt', [var_!]);
    const [inv] = b.op(scope, 'Div', [f32(scope, 1), rms!]);
    let [normed] = b.op(scope, 'Mul', [x32!, inv!]);
    // back to the model dtype before the weight, as LlamaRMSNorm's `.to(input_dtype)`;
    // in float32 there is nothing to cast, so the graph keeps a single Cast
    if (T !== DT.FLOAT) [normed] = b.op(scope, 'Cast', [normed!], { to: T });
    const [out] = b.op(scope, 'Mul', [plainWeight(weightName), normed!]);
    return out!;
  };

  const [hidden0] = b.op('/model/embed_tokens', 'Gather', [plainWeight('model.embed_tokens.weight'), 'input_ids']);

  // RoPE tables [b, 1, s, d] shared by all layers (transformers computes them once per forward)
  const rs = '/model/rotary_emb';
  const invFreq = b.constant(rs, floatTensor('', DT.FLOAT, ropeInvFreq(headDim, cfg.rope_theta, cfg.rope_scaling), [headDim / 2]));
  const [posF] = b.op(rs, 'Cast', ['position_ids'], { to: DT.FLOAT });
  const [posU] = b.op(rs, 'Unsqueeze', [posF!, i64(rs, [2])]);
  const [freqs] = b.op(rs, 'Mul', [posU!, invFreq]);
  const [emb] = b.op(rs, 'Concat', [freqs!, freqs!], { axis: -1 });
  let [cos] = b.op(rs, 'Cos', [emb!]);
  let [sin] = b.op(rs, 'Sin', [emb!]);
  if (T !== DT.FLOAT) {
    [cos] = b.op(rs, 'Cast', [cos!], { to: T });
    [sin] = b.op(rs, 'Cast', [sin!], { to: T });
  }
  const [cos4] = b.op(rs, 'Unsqueeze', [cos!, i64(rs, [1])]);
  const [sin4] = b.op(rs, 'Unsqueeze', [sin!, i64(rs, [1])]);

  // additive mask [b, 1, s, kv]: key j visible from query i iff j <= past + i and attention_mask[j] = 1
  const ms = '/model';
  const [idsShape] = b.op(ms, 'Shape', ['input_ids']);
  const [seqLen] = b.op(ms, 'Gather', [idsShape!, i64(ms, [1], [])], { axis: 0 });
  const [maskShape] = b.op(ms, 'Shape', ['attention_mask']);
  const [kvLen] = b.op(ms, 'Gather', [maskShape!, i64(ms, [1], [])], { axis: 0 });
  const [pastLen] = b.op(ms, 'Sub', [kvLen!, seqLen!]);
  const one = i64(ms, [1], []);
  const [rows] = b.op(ms, 'Range', [pastLen!, kvLen!, one]);
  const [cols] = b.op(ms, 'Range', [i64(ms, [0], []), kvLen!, one]);
  const [rowsU] = b.op(ms, 'Unsqueeze', [rows!, i64(ms, [1])]);
  const [colsU] = b.op(ms, 'Unsqueeze', [cols!, i64(ms, [0])]);
  const [causal] = b.op(ms, 'LessOrEqual', [colsU!, rowsU!]);
  const [padBool] = b.op(ms, 'Cast', ['attention_mask'], { to: DT.BOOL });
  const [pad4] = b.op(ms, 'Unsqueeze', [padBool!, i64(ms, [1, 2])]);
  const [allowed] = b.op(ms, 'And', [causal!, pad4!]);
  const minValue = T === DT.FLOAT16 ? -65504 : -3.4028234663852886e38;
  const [mask] = b.op(ms, 'Where', [allowed!, fT(ms, 0), fT(ms, minValue)]);

  const rotateHalf = (scope: string, x: string): string => {
    const half = headDim / 2;
    const [x1] = b.op(scope, 'Slice', [x, i64(scope, [0]), i64(scope, [half]), i64(scope, [3])]);
    const [x2] = b.op(scope, 'Slice', [x, i64(scope, [half]), i64(scope, [2 ** 53 - 1]), i64(scope, [3])]);
    const [neg] = b.op(scope, 'Neg', [x2!]);
    const [cat] = b.op(scope, 'Concat', [neg!, x1!], { axis: -1 });
    return cat!;
  };
  const applyRope = (scope: string, x: string): string => {
    const [xc] = b.op(scope, 'Mul', [x, cos4!]);
    const [rs2] = b.op(scope, 'Mul', [rotateHalf(scope, x), sin4!]);
    const [sum] = b.op(scope, 'Add', [xc!, rs2!]);
    return sum!;
  };
  const repeatKv = (scope: string, x: string): string => {
    if (groups === 1) return x;
    const [u] = b.op(scope, 'Unsqueeze', [x, i64(scope, [2])]);
    const [e] = b.op(scope, 'Expand', [u!, i64(scope, [1, 1, groups, 1, 1])]);
    const [r] = b.op(scope, 'Reshape', [e!, i64(scope, [0, nHeads, -1, headDim])]);
    return r!;
  };

  let hidden = hidden0!;
  for (let l = 0; l < nLayers; l++) {
    const p = `/model/layers.${l}`;
    const hf = `model.layers.${l}`;
    const normed = rmsNorm(`${p}/input_layernorm`, hidden, `${hf}.input_layernorm.weight`);
    const sa = `${p}/self_attn`;
    const [q] = b.op(`${sa}/q_proj`, 'MatMul', [normed, matmulWeight(`${hf}.self_attn.q_proj.weight`)]);
    const [k] = b.op(`${sa}/k_proj`, 'MatMul', [normed, matmulWeight(`${hf}.self_attn.k_proj.weight`)]);
    const [v] = b.op(`${sa}/v_proj`, 'MatMul', [normed, matmulWeight(`${hf}.self_attn.v_proj.weight`)]);
    const heads = (x: string, n: number) => {
      const [r] = b.op(sa, 'Reshape', [x, i64(sa, [0, 0, n, headDim])]);
      const [t] = b.op(sa, 'Transpose', [r!], { perm: [0, 2, 1, 3] });
      return t!;
    };
    const qRot = applyRope(sa, heads(q!, nHeads));
    const kRot = applyRope(sa, heads(k!, nKvHeads));
    const vH = heads(v!, nKvHeads);
    const [presentK] = b.op(sa, 'Concat', [`past_key_values.${l}.key`, kRot], { axis: 2 }, { outputs: [`present.${l}.key`] });
    const [presentV] = b.op(sa, 'Concat', [`past_key_values.${l}.value`, vH], { axis: 2 }, { outputs: [`present.${l}.value`] });
    const kAll = repeatKv(sa, presentK!);
    const vAll = repeatKv(sa, presentV!);
    const [kT] = b.op(sa, 'Transpose', [kAll], { perm: [0, 1, 3, 2] });
    const [scores] = b.op(sa, 'MatMul', [qRot, kT!]);
    const [scaled] = b.op(sa, 'Mul', [scores!, fT(sa, 1 / Math.sqrt(headDim))]);
    const [masked] = b.op(sa, 'Add', [scaled!, mask!]);
    let probs: string;
    if (T === DT.FLOAT) {
      [probs] = b.op(sa, 'Softmax', [masked!], { axis: -1 }) as [string];
    } else {
      // eager attention's softmax(dtype=float32).to(query.dtype): two Casts, not chained
      const [m32] = b.op(sa, 'Cast', [masked!], { to: DT.FLOAT });
      const [p32] = b.op(sa, 'Softmax', [m32!], { axis: -1 });
      [probs] = b.op(sa, 'Cast', [p32!], { to: T }) as [string];
    }
    const [ctx] = b.op(sa, 'MatMul', [probs, vAll]);
    const [ctxT] = b.op(sa, 'Transpose', [ctx!], { perm: [0, 2, 1, 3] });
    const [ctxR] = b.op(sa, 'Reshape', [ctxT!, i64(sa, [0, 0, nHeads * headDim])]);
    const [o] = b.op(`${sa}/o_proj`, 'MatMul', [ctxR!, matmulWeight(`${hf}.self_attn.o_proj.weight`)]);
    const [h1] = b.op(p, 'Add', [hidden, o!]);
    const normed2 = rmsNorm(`${p}/post_attention_layernorm`, h1!, `${hf}.post_attention_layernorm.weight`);
    const mlp = `${p}/mlp`;
    const [gate] = b.op(`${mlp}/gate_proj`, 'MatMul', [normed2, matmulWeight(`${hf}.mlp.gate_proj.weight`)]);
    const [sig] = b.op(`${mlp}/act_fn`, 'Sigmoid', [gate!]);
    const [act] = b.op(`${mlp}/act_fn`, 'Mul', [gate!, sig!]);
    const [up] = b.op(`${mlp}/up_proj`, 'MatMul', [normed2, matmulWeight(`${hf}.mlp.up_proj.weight`)]);
    const [gu] = b.op(mlp, 'Mul', [act!, up!]);
    const [down] = b.op(`${mlp}/down_proj`, 'MatMul', [gu!, matmulWeight(`${hf}.mlp.down_proj.weight`)]);
    [hidden] = b.op(p, 'Add', [h1!, down!]) as [string];
  }
  const final = rmsNorm('/model/norm', hidden, 'model.norm.weight');
  b.op('/lm_head', 'MatMul', [final, matmulWeight(lmHeadSource(cfg))], {}, { outputs: ['logits'] });

  const { inputs, outputs } = decoderIo(cfg, T, true);
  const model = makeModel(b, 'main_graph', inputs, outputs, { '': 17 }, 'pytorch');
  return { model, dataFile, slots: b.slots, dataBytes: b.dataBytes() };
}

/**
 * The decoder-with-past signature both export styles share: input_ids, attention_mask,
 * (position_ids,) past_key_values.N.key/value in; logits and present.N.key/value out.
 */
export function decoderIo(cfg: LlamaConfig, elemType: number, withPositionIds: boolean): { inputs: ValueInfoProto[]; outputs: ValueInfoProto[] } {
  const { nLayers, nKvHeads, headDim } = geometryOf(cfg);
  const kvDims = ['batch_size', nKvHeads, 'past_sequence_length', headDim];
  const presentDims = ['batch_size', nKvHeads, 'total_sequence_length', headDim];
  const inputs = [
    valueInfo('input_ids', DT.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']),
  ];
  if (withPositionIds) inputs.push(valueInfo('position_ids', DT.INT64, ['batch_size', 'sequence_length']));
  const outputs = [valueInfo('logits', elemType, ['batch_size', 'sequence_length', cfg.vocab_size])];
  for (let l = 0; l < nLayers; l++) {
    inputs.push(valueInfo(`past_key_values.${l}.key`, elemType, kvDims), valueInfo(`past_key_values.${l}.value`, elemType, kvDims));
    outputs.push(valueInfo(`present.${l}.key`, elemType, presentDims), valueInfo(`present.${l}.value`, elemType, presentDims));
  }
  return { inputs, outputs };
}
