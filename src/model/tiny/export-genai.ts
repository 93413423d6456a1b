import type { LlamaConfig } from '../config.js';
import { geometryOf, ropeInvFreq } from '../config.js';
import { decoderIo, lmHeadSource, type BuiltExport, type ShapeOf } from './export-optimum.js';
import { DT, createGraphBuilder, int64Tensor, makeModel, weightBytes } from '../graph/onnx-graph.js';
import type { WeightDtype } from './tiny-weights.js';

/**
 * Build the graph the onnxruntime-genai model builder produces for Llama: fused
 * SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization (the residual carried by
 * output 3), one packed q|k|v MatMul per layer feeding GroupQueryAttention with RoPE inside
 * (cos/sin caches [max_position, head_dim/2]), seqlens_k and total_sequence_length derived
 * from attention_mask, no position_ids input, and external data in `model.onnx.data`.
 */
export function buildGenaiExport(cfg: LlamaConfig, dtype: WeightDtype, shapeOf: ShapeOf): BuiltExport {
  const dataFile = 'model.onnx.data';
  const { nLayers, nHeads, nKvHeads, headDim } = geometryOf(cfg);
  const T = dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const b = createGraphBuilder(dataFile);
  const sep = { outputSep: '/output_' };
  // genai names MatMul weights after the node: `model.layers.0.attn.qkv_proj.MatMul.weight`, [in, out]
  const matmul = (scope: string, input: string, hfNames: string[]): string => {
    const shapes = hfNames.map((n) => shapeOf(n));
    const inDim = shapes[0]![1]!;
    const outDim = shapes.reduce((a, s) => a + s[0]!, 0);
    // stacking [out_i, in] blocks along out, then transposing, packs q|k|v columns in order
    const weightName = `${scope.slice(1).replaceAll('/', '.')}.MatMul.weight`;
    b.weight(weightName, T, [inDim, outDim], { kind: 'hf', names: hfNames, transpose: true });
    const [y] = b.op(scope, 'MatMul', [input, weightName], {}, { ...sep, name: `${scope}/MatMul` });
    return y!;
  };
  const normWeight = (hfName: string) => b.weight(hfName, T, shapeOf(hfName), { kind: 'hf', names: [hfName], transpose: false });
  const constants = new Map<string, string>();
  const i64 = (values: number[], dims?: number[]) => {
    const key = `/model/constants/INT64/${dims?.length === 0 ? values[0] : `[${values.join(', ')}]`}`;
    let name = constants.get(key);
    if (!name) {
      [name] = b.op('', 'Constant', [], { value: int64Tensor('', values, dims) }, { ...sep, name: key }) as [string];
      constants.set(key, name);
    }
    return name;
  };
  const normAttrs = { axis: -1, epsilon: { float: cfg.rms_norm_eps }, stash_type: 1 };

  const [embedded] = b.op('/model/embed_tokens', 'Gather', [normWeight('model.embed_tokens.weight'), 'input_ids'], {}, { ...sep, name: '/model/embed_tokens/Gather' });

  const ms = '/model/attn_mask_reformat/attn_mask_subgraph';
  const [maskSum] = b.op(ms, 'ReduceSum', ['attention_mask', i64([1])], { keepdims: 0 }, { ...sep, name: `${ms}/ReduceSum` });
  const [seqlensI64] = b.op(ms, 'Sub', [maskSum!, i64([1])], {}, { ...sep, name: `${ms}/Sub` });
  const [seqlensK] = b.op(ms, 'Cast', [seqlensI64!], { to: DT.INT32 }, { ...sep, name: `${ms}/Sub/Cast` });
  const [maskShape] = b.op(ms, 'Shape', ['attention_mask'], {}, { ...sep, name: `${ms}/Shape` });
  const [totalI64] = b.op(ms, 'Gather', [maskShape!, i64([1], [])], { axis: 0 }, { ...sep, name: `${ms}/Gather` });
  const [totalLen] = b.op(ms, 'Cast', [totalI64!], { to: DT.INT32 }, { ...sep, name: `${ms}/Gather/Cast` });

  // cos/sin caches [max_position, head_dim/2] of the llama3-scaled frequencies
  const half = headDim / 2;
  const invFreq = ropeInvFreq(headDim, cfg.rope_theta, cfg.rope_scaling);
  const maxPos = cfg.max_position_embeddings;
  const cosCache = new Float32Array(maxPos * half);
  const sinCache = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++)
    for (let i = 0; i < half; i++) {
      // angles in float32 like torch's outer product of float32 positions and inv_freq
      const angle = Math.fround(p * Math.fround(invFreq[i]!));
      cosCache[p * half + i] = Math.cos(angle);
      sinCache[p * half + i] = Math.sin(angle);
    }
  b.weight('cos_cache', T, [maxPos, half], { kind: 'bytes', data: weightBytes(cosCache, T) });
  b.weight('sin_cache', T, [maxPos, half], { kind: 'bytes', data: weightBytes(sinCache, T) });

  let residual = embedded!;
  let pendingAdd: string | undefined; // block output still to be added to the residual
  const norm = (scope: string, weightName: string): string => {
    if (pendingAdd === undefined) {
      const [y] = b.op(scope, 'SimplifiedLayerNormalization', [residual, normWeight(weightName)], normAttrs, { ...sep, name: `${scope}/LayerNorm` });
      return y!;
    }
    const name = `${scope}/SkipLayerNorm`;
    const outs = [`${name}/output_0`, '', '', `${name}/output_3`];
    b.op(scope, 'SkipSimplifiedLayerNormalization', [pendingAdd, residual, normWeight(weightName)], { epsilon: { float: cfg.rms_norm_eps } }, { outputs: outs, name, domain: 'com.microsoft' });
    residual = outs[3]!;
    pendingAdd = undefined;
    return outs[0]!;
  };
  for (let l = 0; l < nLayers; l++) {
    const p = `/model/layers.${l}`;
    const hf = `model.layers.${l}`;
    const x = norm(`${p}/input_layernorm`, `${hf}.input_layernorm.weight`);
    const qkv = matmul(`${p}/attn/qkv_proj`, x, [`${hf}.self_attn.q_proj.weight`, `${hf}.self_attn.k_proj.weight`, `${hf}.self_attn.v_proj.weight`]);
    const gqa = `${p}/attn/GroupQueryAttention`;
    const gqaOut = [`${gqa}/output_0`, `present.${l}.key`, `present.${l}.value`];
    b.op(
      gqa,
      'GroupQueryAttention',
      [qkv, '', '', `past_key_values.${l}.key`, `past_key_values.${l}.value`, seqlensK!, totalLen!, 'cos_cache', 'sin_cache'],
      { do_rotary: 1, kv_num_heads: nKvHeads, local_window_size: -1, num_heads: nHeads, rotary_interleaved: 0, scale: { float: 1 / Math.sqrt(headDim) } },
      { outputs: gqaOut, name: gqa, domain: 'com.microsoft' },
    );
    pendingAdd = matmul(`${p}/attn/o_proj`, gqaOut[0]!, [`${hf}.self_attn.o_proj.weight`]);
    const x2 = norm(`${p}/post_attention_layernorm`, `${hf}.post_attention_layernorm.weight`);
    const mlp = `${p}/mlp`;
    const gate = matmul(`${mlp}/gate_proj`, x2, [`${hf}.mlp.gate_proj.weight`]);
    const [sig] = b.op(`${mlp}/act_fn`, 'Sigmoid', [gate], {}, { ...sep, name: `${mlp}/act_fn/Sigmoid` });
    const [act] = b.op(`${mlp}/act_fn`, 'Mul', [gate, sig!], {}, { ...sep, name: `${mlp}/act_fn/Mul` });
    const up = matmul(`${mlp}/up_proj`, x2, [`${hf}.mlp.up_proj.weight`]);
    const [gu] = b.op(mlp, 'Mul', [act!, up], {}, { ...sep, name: `${mlp}/Mul` });
    pendingAdd = matmul(`${mlp}/down_proj`, gu!, [`${hf}.mlp.down_proj.weight`]);
  }
  const final = norm('/model/norm', 'model.norm.weight');
  const lmName = 'lm_head.MatMul.weight';
  const [lmOut, lmIn] = shapeOf(lmHeadSource(cfg)) as [number, number];
  b.weight(lmName, T, [lmIn, lmOut], { kind: 'hf', names: [lmHeadSource(cfg)], transpose: true });
  b.op('/lm_head', 'MatMul', [final, lmName], {}, { outputs: ['logits'], name: '/lm_head/MatMul' });

  const { inputs, outputs } = decoderIo(cfg, T, false);
  const model = makeModel(b, 'main_graph', inputs, outputs, { '': 21, 'com.microsoft': 1 }, 'onnxruntime-genai');
  return { model, dataFile, slots: b.slots, dataBytes: b.dataBytes() };
}
