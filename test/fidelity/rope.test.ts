import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCapture } from '../../src/capture/run-capture.js';
import { readCorpusMeta } from '../../src/corpus/index.js';
import { halfToFloat32, openNpz } from '../../src/npz/index.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import type { RopeScaling } from '../../src/model/config.js';
import { gaussianLogScores } from '../../src/fidelity/scores.js';
import {
  averageRotation, invFreqOf, rotateRows, rotateRowsToPositions, rotateVector, rotationAt, transposeRotation,
} from '../../src/fidelity/rope.js';
import { readSafetensors } from '../model/reference-llama.js';
import { createRng } from '../../src/util/rng.js';

/**
 * RoPE as fidelity applies it must be the model's own: pre-RoPE keys (input_layernorm
 * output captured by the ONNX model, times k_proj from model.safetensors) rotated to their
 * positions must equal the post-RoPE keys the ONNX graph itself produced (`keys` field),
 * llama3 frequency scaling included.
 */

let root: string;
const quiet = { write: () => true, isTTY: false };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-fidelity-rope-'));
  await makeTinyModel({ ...TINY_DEFAULTS, out: join(root, 'model') });
  await runCapture({
    tasks: ['vt'], promptIdx: [0], model: join(root, 'model'), out: join(root, 'corpus'), source: 'synthetic', promptFormat: 'chat',
    maxLength: 1800, nSink: 16, tSub: 64, seed: 0, ep: 'cpu', withInputIds: false, withKeys: true, force: false, threads: 1, stderr: quiet,
  });
}, 120_000);
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** max |a - b| / max |b|: both sides come from float16 data (~5e-4 relative each). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { worst = Math.max(worst, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return worst / scale;
}

describe('RoPE against the tiny model', () => {
  it('rotating pre-RoPE keys to their positions reproduces the ONNX model\'s post-RoPE keys, llama3 scaling included', async () => {
    const meta = (await readCorpusMeta(join(root, 'corpus')))!;
    const m = meta.model!;
    const scaling = m.rope_scaling as RopeScaling;
    expect(scaling.rope_type).toBe('llama3');
    const d = m.head_dim!, H = m.hidden_size!, nKv = m.num_key_value_heads!, L = m.num_hidden_layers!;
    const reader = await openNpz(join(root, 'corpus', 'prompt_vt__p0.npz'));
    const hidden = halfToFloat32((await reader.read('hidden')).data as Uint16Array); // [L, T, H]
    const keys = halfToFloat32((await reader.read('keys')).data as Uint16Array); // [L, kv, T, d]
    const positions = (await reader.read('positions')).data as Int32Array;
    await reader.close();
    const T = positions.length;
    // the ramp and the scaled band of llama3 only differ from plain RoPE at large positions
    expect(positions[T - 1]).toBeGreaterThan(1000);
    const weights = readSafetensors(join(root, 'model', 'model.safetensors'));
    const withScaling = invFreqOf({ headDim: d, theta: m.rope_theta!, scaling });
    const plain = invFreqOf({ headDim: d, theta: m.rope_theta!, scaling: null });
    let worst = 0, worstPlain = 0;
    for (let l = 0; l < L; l++) {
      const Wk = weights[`model.layers.${l}.self_attn.k_proj.weight`]!.values; // [kv*d, H]
      for (let g = 0; g < nKv; g++) {
        const pre = new Float64Array(T * d);
        for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) {
          let s = 0;
          for (let i = 0; i < H; i++) s += hidden[(l * T + t) * H + i]! * Wk[(g * d + j) * H + i]!;
          pre[t * d + j] = s;
        }
        const captured = keys.subarray(((l * nKv + g) * T) * d, ((l * nKv + g) * T + T) * d);
        worst = Math.max(worst, relErr(rotateRowsToPositions(pre, positions, withScaling), captured));
        worstPlain = Math.max(worstPlain, relErr(rotateRowsToPositions(pre, positions, plain), captured));
      }
    }
    expect(worst).toBeLessThan(2e-3); // measured 5e-4
    // the check is sensitive: unscaled frequencies miss by far more than the tolerance
    expect(worstPlain).toBeGreaterThan(10 * 2e-3);
  });
});

describe('rotation algebra against dense matrices (kvpress: R = cos I + sin P)', () => {
  const d = 8;
  const invFreq = invFreqOf({ headDim: d, theta: 10000, scaling: null });
  const rng = createRng(4);
  const dense = (position: number): Float64Array => {
    const R = new Float64Array(d * d);
    for (let j = 0; j < d; j++) {
      const a = position * invFreq[j % (d / 2)]!;
      R[j * d + j] = Math.cos(a);
      if (j < d / 2) R[(j + d / 2) * d + j] = Math.sin(a);
      else R[(j - d / 2) * d + j] = -Math.sin(a);
    }
    return R;
  };
  const matVec = (R: Float64Array, x: Float64Array) => Float64Array.from({ length: d }, (_, a) => x.reduce((s, v, b) => s + R[a * d + b]! * v, 0));
  const positions = [17, 300, 301, 4000];
  const meanDense = new Float64Array(d * d);
  for (const p of positions) dense(p).forEach((v, i) => { meanDense[i]! += v / positions.length; });

  it('rotateVector, averageRotation and transposeRotation equal the dense products', () => {
    const x = Float64Array.from({ length: d }, () => rng.normal());
    expect(relErr(rotateVector(rotationAt(invFreq, 300), x, new Float64Array(d)), matVec(dense(300), x))).toBeLessThan(1e-14);
    expect(relErr(rotateVector(averageRotation(invFreq, positions), x, new Float64Array(d)), matVec(meanDense, x))).toBeLessThan(1e-14);
    const back = rotateVector(transposeRotation(rotationAt(invFreq, 300)), rotateVector(rotationAt(invFreq, 300), x, new Float64Array(d)), new Float64Array(d));
    expect(relErr(back, x)).toBeLessThan(1e-14);
    const rows = rotateRows(rotationAt(invFreq, 17), Float64Array.of(...x, ...x), 2);
    expect(relErr(rows.subarray(d), matVec(dense(17), x))).toBeLessThan(1e-14);
  });

  it('closed forms under the averaged rotation use mu = R mu and Sigma = R S R^T (applied to the keys as R^T k)', async () => {
    const A = Float64Array.from({ length: d * d }, () => rng.normal());
    const S = new Float64Array(d * d);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) for (let c = 0; c < d; c++) S[a * d + b]! += A[a * d + c]! * A[b * d + c]! / d;
    const mu = Float64Array.from({ length: d }, () => rng.normal());
    const muRot = matVec(meanDense, mu);
    const sigmaRot = new Float64Array(d * d);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
      let s = 0;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s += meanDense[a * d + i]! * S[i * d + j]! * meanDense[b * d + j]!;
      sigmaRot[a * d + b] = s;
    }
    const keys = { data: Float64Array.from({ length: 5 * d }, () => rng.normal()), n: 5, d };
    const ref = Float64Array.from({ length: 5 }, (_, k) => {
      const key = keys.data.subarray(k * d, (k + 1) * d);
      let lin = 0, quad = 0;
      for (let a = 0; a < d; a++) {
        lin += muRot[a]! * key[a]!;
        for (let b = 0; b < d; b++) quad += key[a]! * sigmaRot[a * d + b]! * key[b]!;
      }
      return lin / Math.sqrt(d) + quad / (2 * d);
    });
    const got = await gaussianLogScores(mu, S, [averageRotation(invFreq, positions)], keys, { backend: 'js' });
    expect(relErr(got, ref)).toBeLessThan(1e-12);
  });
});
