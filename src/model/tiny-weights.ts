import { createRng } from '../util/rng.js';
import { fromHalfBits, toHalfBits } from './half.js';

/** Sizes of a tiny Llama (the subset of LlamaConfig that shapes the weights). */
export interface TinyDims {
  nLayers: number;
  hiddenSize: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
}

/** One weight in Hugging Face layout: Linear weights are [out, in], values row-major. */
export interface NamedWeight {
  name: string;
  shape: number[];
  /** already rounded to the model dtype, so every file holds exactly these numbers */
  values: Float32Array;
}

/**
 * Draw every weight of a tiny Llama from `seed`, in Hugging Face names and layouts.
 * Scales keep activations O(1) through the layers: projections ~ N(0, 1/fan_in) (q, k a
 * little larger for attention that is not uniform), norm weights 1 ± 0.15, not all ones.
 */
export function drawTinyWeights(dims: TinyDims, seed: number, dtype: 'float32' | 'float16'): NamedWeight[] {
  const rng = createRng(seed);
  const round = dtype === 'float16' ? (x: number) => fromHalfBits(toHalfBits(x)) : (x: number) => Math.fround(x);
  const draw = (name: string, shape: number[], fill: () => number): NamedWeight => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = round(fill());
    return { name, shape, values };
  };
  const gaussian = (std: number) => () => std * rng.normal();
  const normWeight = () => 1 + 0.15 * rng.normal();
  const { hiddenSize: h, nHeads, nKvHeads, headDim: d, intermediateSize: m, vocabSize: v } = dims;
  const qOut = nHeads * d;
  const kvOut = nKvHeads * d;
  const out: NamedWeight[] = [draw('model.embed_tokens.weight', [v, h], gaussian(1))];
  for (let l = 0; l < dims.nLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(draw(`${p}.input_layernorm.weight`, [h], normWeight));
    out.push(draw(`${p}.self_attn.q_proj.weight`, [qOut, h], gaussian(1.5 / Math.sqrt(h))));
    out.push(draw(`${p}.self_attn.k_proj.weight`, [kvOut, h], gaussian(1.5 / Math.sqrt(h))));
    out.push(draw(`${p}.self_attn.v_proj.weight`, [kvOut, h], gaussian(1 / Math.sqrt(h))));
    out.push(draw(`${p}.self_attn.o_proj.weight`, [h, qOut], gaussian(1 / Math.sqrt(qOut))));
    out.push(draw(`${p}.post_attention_layernorm.weight`, [h], normWeight));
    out.push(draw(`${p}.mlp.gate_proj.weight`, [m, h], gaussian(1 / Math.sqrt(h))));
    out.push(draw(`${p}.mlp.up_proj.weight`, [m, h], gaussian(1 / Math.sqrt(h))));
    out.push(draw(`${p}.mlp.down_proj.weight`, [h, m], gaussian(1 / Math.sqrt(m))));
  }
  out.push(draw('model.norm.weight', [h], normWeight));
  out.push(draw('lm_head.weight', [v, h], gaussian(1 / Math.sqrt(h))));
  return out;
}

/** Looks weights up by Hugging Face name; a missing one is a bug in the exporter, not user input. */
export function weightLookup(weights: NamedWeight[]): (name: string) => NamedWeight {
  const byName = new Map(weights.map((w) => [w.name, w]));
  return (name) => {
    const x = byName.get(name);
    if (!x) throw new Error(`missing weight ${name}`);
    return x;
  };
}
