import type { Rng } from '../util/rng.js';
import { toHalfBits } from './half.js';

/** Sizes of a tiny Llama (the subset of LlamaConfig that shapes the weights). */
export interface TinyDims {
  nLayers: number;
  hiddenSize: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  /** no lm_head.weight: the output projection reuses model.embed_tokens.weight (HF tie_word_embeddings) */
  tiedEmbeddings?: boolean;
}

/** Element type of the stored weights. */
export type WeightDtype = 'float32' | 'float16';

/** One weight to draw, in Hugging Face name and layout (Linear weights are [out, in]). */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** elements drawn as std · N(0, 1), or 1 + 0.15 · N(0, 1) for RMSNorm weights */
  init: { kind: 'gaussian'; std: number } | { kind: 'norm' };
}

/** Raw little-endian elements of one weight: float32 values, or float16 bits. */
export type WeightElements = Float32Array | Uint16Array;

/**
 * Every weight of a tiny Llama in draw order (embedding, then per layer the attention norm,
 * q, k, v, o, the MLP norm, gate, up, down; final norm, lm_head). Scales keep activations
 * O(1) through the layers: projections ~ N(0, 1/fan_in) (q, k a little larger for attention
 * that is not uniform), norm weights 1 ± 0.15, not all ones.
 */
export function weightSpecs(dims: TinyDims): WeightSpec[] {
  const { hiddenSize: h, nHeads, nKvHeads, headDim: d, intermediateSize: m, vocabSize: v } = dims;
  const qOut = nHeads * d;
  const kvOut = nKvHeads * d;
  const g = (std: number) => ({ kind: 'gaussian', std }) as const;
  const norm = { kind: 'norm' } as const;
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [v, h], init: g(1) }];
  for (let l = 0; l < dims.nLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], init: norm },
      { name: `${p}.self_attn.q_proj.weight`, shape: [qOut, h], init: g(1.5 / Math.sqrt(h)) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kvOut, h], init: g(1.5 / Math.sqrt(h)) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kvOut, h], init: g(1 / Math.sqrt(h)) },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, qOut], init: g(1 / Math.sqrt(qOut)) },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], init: norm },
      { name: `${p}.mlp.gate_proj.weight`, shape: [m, h], init: g(1 / Math.sqrt(h)) },
      { name: `${p}.mlp.up_proj.weight`, shape: [m, h], init: g(1 / Math.sqrt(h)) },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, m], init: g(1 / Math.sqrt(m)) },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h], init: norm });
  if (!dims.tiedEmbeddings) out.push({ name: 'lm_head.weight', shape: [v, h], init: g(1 / Math.sqrt(h)) });
  return out;
}

/** Number of elements of a shape. */
export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Draw one weight's elements from `rng` (advanced in place, so drawing the specs in order
 * from one generator gives the same numbers whatever is done between draws) into the front
 * of `out`, returned as a view: float32 values, or the float16 bits of each value rounded
 * to nearest. `out` is a scratch buffer the caller reuses, so memory stays one weight.
 */
export function drawWeightInto<T extends WeightElements>(spec: WeightSpec, rng: Rng, dtype: WeightDtype, out: T): T {
  const n = elementCount(spec.shape);
  if (out.length < n || (dtype === 'float16') !== out instanceof Uint16Array) throw new Error(`drawWeightInto: scratch too small or of the wrong type for ${spec.name}`);
  const scale = spec.init.kind === 'gaussian' ? spec.init.std : 0.15;
  const offset = spec.init.kind === 'gaussian' ? 0 : 1;
  const view = out.subarray(0, n) as T;
  if (view instanceof Uint16Array) {
    for (let i = 0; i < n; i++) view[i] = toHalfBits(offset + scale * rng.normal());
  } else {
    for (let i = 0; i < n; i++) view[i] = offset + scale * rng.normal();
  }
  return view;
}
