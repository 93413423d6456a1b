import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An independent float64 Llama forward that reads model.safetensors and config.json only
 * (never the ONNX file), written from the Hugging Face LlamaForCausalLM equations.
 */

export interface RefTensors {
  [name: string]: { shape: number[]; values: Float64Array };
}

/** Parse a safetensors file (F32/F16) into float64 arrays. */
export function readSafetensors(path: string): RefTensors {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const out: RefTensors = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = h.data_offsets;
    const bytes = buf.subarray(base + b, base + e);
    const count = h.shape.reduce((a, c) => a * c, 1);
    const values = new Float64Array(count);
    if (h.dtype === 'F32') for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(i * 4);
    else if (h.dtype === 'F16') for (let i = 0; i < count; i++) values[i] = halfToNumber(bytes.readUInt16LE(i * 2));
    else throw new Error(`reference: dtype ${h.dtype}`);
    out[name] = { shape: h.shape, values };
  }
  return out;
}

function halfToNumber(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

export interface RefForward {
  /** [L][T*hidden]: input_layernorm outputs */
  hidden: Float64Array[];
  /** [L][T*nq*d]: q_proj outputs (pre-RoPE) */
  queries: Float64Array[];
  /** [L][nkv][T*d]: post-RoPE keys */
  keys: Float64Array[][];
  /** [T*vocab] */
  logits: Float64Array;
}

/** Run the whole sequence `ids` (positions 0..T-1) through the model in float64. */
export function referenceForward(modelDir: string, ids: number[]): RefForward {
  const cfg = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
  const W = readSafetensors(join(modelDir, 'model.safetensors'));
  const H: number = cfg.hidden_size;
  const nq: number = cfg.num_attention_heads;
  const nkv: number = cfg.num_key_value_heads;
  const d: number = cfg.head_dim ?? H / nq;
  const L: number = cfg.num_hidden_layers;
  const eps: number = cfg.rms_norm_eps;
  const T = ids.length;
  const get = (name: string) => {
    const t = W[name];
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t;
  };
  // x [T, inDim] times Linear weight [out, in] transposed -> [T, out]
  const linear = (x: Float64Array, name: string) => {
    const w = get(name);
    const [out, inp] = w.shape as [number, number];
    const y = new Float64Array(T * out);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < out; o++) {
        let acc = 0;
        for (let i = 0; i < inp; i++) acc += x[t * inp + i]! * w.values[o * inp + i]!;
        y[t * out + o] = acc;
      }
    return y;
  };
  const rms = (x: Float64Array, name: string) => {
    const w = get(name).values;
    const y = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      let ss = 0;
      for (let i = 0; i < H; i++) ss += x[t * H + i]! ** 2;
      const inv = 1 / Math.sqrt(ss / H + eps);
      for (let i = 0; i < H; i++) y[t * H + i] = w[i]! * x[t * H + i]! * inv;
    }
    return y;
  };
  const invFreq = referenceInvFreq(cfg, d);
  // rotate-half RoPE of a [T, heads*d] tensor, head-major inside each row
  const rope = (x: Float64Array, heads: number) => {
    const y = new Float64Array(x.length);
    const half = d / 2;
    for (let t = 0; t < T; t++)
      for (let h = 0; h < heads; h++)
        for (let j = 0; j < d; j++) {
          const ang = t * invFreq[j % half]!;
          const base = t * heads * d + h * d;
          const rot = j < half ? -x[base + j + half]! : x[base + j - half]!;
          y[base + j] = x[base + j]! * Math.cos(ang) + rot * Math.sin(ang);
        }
    return y;
  };
  const out: RefForward = { hidden: [], queries: [], keys: [], logits: new Float64Array(0) };
  let h = new Float64Array(T * H);
  const emb = get('model.embed_tokens.weight').values;
  for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) h[t * H + i] = emb[ids[t]! * H + i]!;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const x = rms(h, `${p}.input_layernorm.weight`);
    const q = linear(x, `${p}.self_attn.q_proj.weight`);
    const k = rope(linear(x, `${p}.self_attn.k_proj.weight`), nkv);
    const v = linear(x, `${p}.self_attn.v_proj.weight`);
    out.hidden.push(x);
    out.queries.push(q);
    out.keys.push(
      Array.from({ length: nkv }, (_, g) => {
        const kh = new Float64Array(T * d);
        for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) kh[t * d + j] = k[t * nkv * d + g * d + j]!;
        return kh;
      }),
    );
    const qr = rope(q, nq);
    const ctx = new Float64Array(T * nq * d);
    const group = nq / nkv;
    for (let hq = 0; hq < nq; hq++) {
      const g = Math.floor(hq / group);
      for (let t = 0; t < T; t++) {
        const scores = new Float64Array(t + 1);
        let mx = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += qr[t * nq * d + hq * d + j]! * k[s * nkv * d + g * d + j]!;
          scores[s] = dot / Math.sqrt(d);
          mx = Math.max(mx, scores[s]!);
        }
        let z = 0;
        for (let s = 0; s <= t; s++) z += scores[s] = Math.exp(scores[s]! - mx);
        for (let s = 0; s <= t; s++)
          for (let j = 0; j < d; j++) ctx[t * nq * d + hq * d + j]! += (scores[s]! / z) * v[s * nkv * d + g * d + j]!;
      }
    }
    const o = linear(ctx, `${p}.self_attn.o_proj.weight`);
    for (let i = 0; i < h.length; i++) h[i]! += o[i]!;
    const x2 = rms(h, `${p}.post_attention_layernorm.weight`);
    const gate = linear(x2, `${p}.mlp.gate_proj.weight`);
    const up = linear(x2, `${p}.mlp.up_proj.weight`);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
    const down = linear(gate, `${p}.mlp.down_proj.weight`);
    h = h.map((val, i) => val + down[i]!);
  }
  // tie_word_embeddings: no lm_head.weight, the embedding is the output projection
  out.logits = linear(rms(h, 'model.norm.weight'), W['lm_head.weight'] ? 'lm_head.weight' : 'model.embed_tokens.weight');
  return out;
}

/** RoPE inverse frequencies of `cfg` at head width `d`, llama3 rescaling per transformers' `_compute_llama3_parameters`. */
export function referenceInvFreq(cfg: { rope_theta: number; rope_scaling?: { rope_type?: string; type?: string; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number } | null }, d: number): number[] {
  const invFreq: number[] = [];
  for (let i = 0; i < d; i += 2) invFreq.push(1 / Math.pow(cfg.rope_theta, i / d));
  const sc = cfg.rope_scaling;
  // transformers reads rope_type, or the older spelling `type`
  if (sc && (sc.rope_type ?? sc.type) === 'llama3') {
    const lowW = sc.original_max_position_embeddings / sc.low_freq_factor;
    const highW = sc.original_max_position_embeddings / sc.high_freq_factor;
    for (let i = 0; i < invFreq.length; i++) {
      const f = invFreq[i]!;
      const wl = (2 * Math.PI) / f;
      if (wl > lowW) invFreq[i] = f / sc.factor;
      else if (wl >= highW) {
        const smooth = (sc.original_max_position_embeddings / wl - sc.low_freq_factor) / (sc.high_freq_factor - sc.low_freq_factor);
        invFreq[i] = (1 - smooth) * (f / sc.factor) + smooth * f;
      }
    }
  }
  return invFreq;
}
