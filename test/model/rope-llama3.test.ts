import { describe, expect, it } from 'vitest';
import { ropeInvFreq, type LlamaConfig } from '../../src/model/config.js';
import { buildGenaiExport } from '../../src/model/tiny/export-genai.js';
import { buildOptimumExport } from '../../src/model/tiny/export-optimum.js';
import { dimsOf } from '../../src/model/tiny/make-tiny-model.js';
import { presetFiles } from '../../src/model/tiny/presets.js';
import { weightSpecs } from '../../src/model/tiny/tiny-weights.js';
import { halfToFloat32 } from '../../src/npz/index.js';
import { requirePython, runPythonJson } from '../helpers/python.js';
import { referenceInvFreq } from './reference-llama.js';

// Llama-3.1's rope scaling written from its formula (transformers `_compute_llama3_parameters`,
// Meta's `apply_scaling`), vectorised in numpy: float64, and float32 the way torch computes
// the export's table (arange → float32, base ** x in float32, every later op in float32).
const NUMPY_LLAMA3 = `
import json, sys
import numpy as np
req = json.loads(sys.stdin.read())
out = {}
for dtype in (np.float64, np.float32):
    d, base, sc = req['head_dim'], req['rope_theta'], req['rope_scaling']
    x = np.arange(0, d, 2, dtype=np.int64).astype(dtype) / dtype(d)
    inv = dtype(1.0) / (dtype(base) ** x)
    factor, lo, hi, old = (dtype(sc[k]) for k in ('factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'))
    low_w, high_w = old / lo, old / hi
    wl = dtype(2 * np.pi) / inv
    llama = np.where(wl > low_w, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * llama / factor + smooth * llama
    medium = ~(wl < high_w) & ~(wl > low_w)
    llama = np.where(medium, smoothed, llama).astype(dtype)
    out[np.dtype(dtype).name] = llama.astype(np.float64).tolist()
    if dtype is np.float32:
        pos = np.array(req['positions'], dtype=np.float32)
        ang = np.outer(pos, llama)  # float32, as torch's position_ids.float() @ inv_freq
        out['cos'] = np.cos(ang.astype(np.float64)).tolist()
        out['sin'] = np.sin(ang.astype(np.float64)).tolist()
out['bands'] = {'high': int((wl < high_w).sum()), 'low': int((wl > low_w).sum()), 'medium': int(medium.sum())}
print(json.dumps(out))
`;

interface NumpyRope {
  float64: number[];
  float32: number[];
  cos: number[][];
  sin: number[][];
  bands: { high: number; low: number; medium: number };
}

const llama31 = presetFiles('llama-3.1-8b').config;
const headDim = llama31.hidden_size / llama31.num_attention_heads;
const POSITIONS = [0, 1, 100, 8191, 8192, 16383, 131071];

function numpyRope(cfg: LlamaConfig, d: number): NumpyRope {
  return runPythonJson<NumpyRope>(NUMPY_LLAMA3, { head_dim: d, rope_theta: cfg.rope_theta, rope_scaling: cfg.rope_scaling, positions: POSITIONS });
}

const shapeOf = (cfg: LlamaConfig) => {
  const shapes = new Map(weightSpecs(dimsOf(cfg)).map((s) => [s.name, s.shape]));
  return (name: string) => shapes.get(name)!;
};

describe("Llama-3.1's llama3 RoPE scaling against numpy", () => {
  requirePython(['numpy']);
  const np = numpyRope(llama31, headDim);

  it('the preset config exercises all three bands (kept, smoothed, divided by 8)', () => {
    expect(np.bands.high).toBeGreaterThan(0);
    expect(np.bands.medium).toBeGreaterThan(0);
    expect(np.bands.low).toBeGreaterThan(0);
    expect(np.bands.high + np.bands.medium + np.bands.low).toBe(headDim / 2);
  });

  it('ropeInvFreq (capture, fidelity) and the float64 test reference equal numpy to 1e-14 relative', () => {
    const ours = ropeInvFreq(headDim, llama31.rope_theta, llama31.rope_scaling);
    const ref = referenceInvFreq(llama31, headDim);
    for (let i = 0; i < headDim / 2; i++) {
      expect(Math.abs(ours[i]! - np.float64[i]!) / np.float64[i]!).toBeLessThan(1e-14);
      expect(Math.abs(ref[i]! - np.float64[i]!) / np.float64[i]!).toBeLessThan(1e-14);
    }
  });

  it("the optimum export's inv_freq table is numpy's float64 rounded to float32, within 4 ulp of torch's float32 pipeline", () => {
    const built = buildOptimumExport({ ...llama31, num_hidden_layers: 1 }, 'float16', shapeOf({ ...llama31, num_hidden_layers: 1 }));
    const constants = built.model.graph!.node.filter((n) => n.name.startsWith('/model/rotary_emb/') && n.opType === 'Constant');
    const table = constants.map((n) => n.attribute[0]!.t!).find((t) => t.dims.length === 1 && Number(t.dims[0]) === headDim / 2)!;
    const raw = table.rawData;
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    for (let i = 0; i < headDim / 2; i++) {
      expect(values[i]).toBe(Math.fround(np.float64[i]!));
      // torch computes the table in float32 and collects a few ulp of rounding on the way
      expect(Math.abs(values[i]! - np.float32[i]!) / np.float32[i]!).toBeLessThan(2 ** -21);
    }
  });

  it("the genai export's cos/sin caches equal numpy at positions up to 131071 within half precision", () => {
    const cfg = { ...llama31, num_hidden_layers: 1 };
    const built = buildGenaiExport(cfg, 'float16', shapeOf(cfg));
    const half = headDim / 2;
    for (const [name, want] of [['cos_cache', np.cos], ['sin_cache', np.sin]] as const) {
      const slot = built.slots.find((s) => s.name === name)!;
      expect(slot.source.kind).toBe('bytes');
      const bytes = (slot.source as { data: Uint8Array }).data;
      const cache = halfToFloat32(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
      expect(cache.length).toBe(llama31.max_position_embeddings * half);
      POSITIONS.forEach((p, k) => {
        // half precision of a value in [-1, 1] is within 2^-11; float32 angles near 1e5 rad add ~4e-3
        const tol = p * 1e-7 + 2 ** -11;
        for (let i = 0; i < half; i++) expect(Math.abs(cache[p * half + i]! - want[k]![i]!)).toBeLessThanOrEqual(tol);
      });
    }
  });
});
