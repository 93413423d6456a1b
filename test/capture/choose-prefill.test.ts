import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { choosePrefillForModel, choosePrefillMode, layerGemmCpuBytes, STREAM_DEFAULT_LAYER_BYTES, STREAM_FLOAT16_MIN_TOKENS } from '../../src/capture/prefill/choose-mode.js';
import { presetFiles } from '../../src/model/tiny/presets.js';
import { CAPTURE_MALLOC_ENV, wantsMallocRelaunch } from '../../src/util/malloc-env.js';
import { findOnnxFile, readModelProto } from '../../src/model/graph/capture-graph.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { weightBytes } from '../../src/model/runtime/weight-bytes.js';

const GiB = 2 ** 30;
const w = { stored: 16 * GiB, cpuResident: 30 * GiB, layerCpuBytes: GiB };
const MiB = 2 ** 20;
const env = { availableBytes: 20 * GiB, cudaInstalled: false, mallocTuned: false };

describe('choosePrefillMode', () => {
  it('keeps a mode given on the command line, whatever the memory', () => {
    for (const mode of ['layers', 'chunks', 'loop', 'stream'] as const) expect(choosePrefillMode(mode, w, 'cpu', env)).toEqual({ mode });
  });

  it('streams on the CPU under the CLI malloc settings, silently', () => {
    expect(choosePrefillMode(undefined, { stored: 1, cpuResident: 1, layerCpuBytes: 1 }, 'cpu', { ...env, mallocTuned: true })).toEqual({ mode: 'stream' });
    expect(choosePrefillMode(undefined, { stored: 1, cpuResident: 1, layerCpuBytes: 1 }, 'auto', { ...env, mallocTuned: true })).toEqual({ mode: 'stream' });
  });

  it('without them: layers when the CPU-resident weights fit, stream with one line saying why when not', () => {
    expect(choosePrefillMode(undefined, { stored: GiB, cpuResident: 2 * GiB, layerCpuBytes: 8 * MiB }, 'cpu', env)).toEqual({ mode: 'layers' });
    const big = choosePrefillMode(undefined, w, 'auto', env);
    expect(big.mode).toBe('stream');
    expect(big.note).toMatch(/^note: the model's weights take about 30\.0 GiB .* 20\.0 GiB is available: prefilling one layer at a time \(--prefill stream\)$/);
    expect(big.note).not.toContain('\n');
  });

  it('on the CPU, stream silently for large layers in float32, or in float16 at 16K-token prompts; layers otherwise', () => {
    const f32 = { stored: 2 * GiB, cpuResident: 2 * GiB };
    expect(choosePrefillMode(undefined, { ...f32, layerCpuBytes: STREAM_DEFAULT_LAYER_BYTES }, 'cpu', env)).toEqual({ mode: 'stream' });
    expect(choosePrefillMode(undefined, { ...f32, layerCpuBytes: STREAM_DEFAULT_LAYER_BYTES - 1 }, 'cpu', env)).toEqual({ mode: 'layers' });
    // float16 GEMM weights (resident above stored): every new session casts them again, which
    // only prompts of STREAM_FLOAT16_MIN_TOKENS hide
    const f16 = { stored: GiB, cpuResident: 2 * GiB };
    expect(choosePrefillMode(undefined, { ...f16, layerCpuBytes: GiB }, 'cpu', env)).toEqual({ mode: 'layers' });
    expect(choosePrefillMode(undefined, { ...f16, layerCpuBytes: GiB }, 'cpu', env, STREAM_FLOAT16_MIN_TOKENS - 1)).toEqual({ mode: 'layers' });
    expect(choosePrefillMode(undefined, { ...f16, layerCpuBytes: GiB }, 'cpu', env, STREAM_FLOAT16_MIN_TOKENS)).toEqual({ mode: 'stream' });
    expect(choosePrefillMode(undefined, { ...f16, layerCpuBytes: STREAM_DEFAULT_LAYER_BYTES - 1 }, 'cpu', env, STREAM_FLOAT16_MIN_TOKENS)).toEqual({ mode: 'layers' });
    // on CUDA the layer size does not decide: a new session per layer uploads its weights again
    const cuda = { ...env, cudaInstalled: true, cudaFreeBytes: 40 * GiB };
    expect(choosePrefillMode(undefined, { ...f32, layerCpuBytes: GiB }, 'auto', cuda)).toEqual({ mode: 'layers' });
  });

  it('sizes a layer from config.json: Llama-3.1-8B 218,103,808 projection weights (872 MB in float32), the tiny model far below the threshold', () => {
    // q 4096x4096, k and v 4096x1024, o 4096x4096, gate/up/down 3 x 4096x14336: Llama-3.1-8B's published shapes
    expect(layerGemmCpuBytes(presetFiles('llama-3.1-8b').config)).toBe(4 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336));
    expect(4 * 218_103_808).toBe(layerGemmCpuBytes(presetFiles('llama-3.1-8b').config));
    expect(layerGemmCpuBytes(presetFiles('llama-3.1-8b').config)).toBeGreaterThanOrEqual(STREAM_DEFAULT_LAYER_BYTES);
    // the bench model (hidden 1024, 16/4 heads of 64, intermediate 2816) is above it, the tiny default far below
    const bench = { ...presetFiles('llama-3.1-8b').config, hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 4, head_dim: 64, intermediate_size: 2816 };
    expect(layerGemmCpuBytes(bench)).toBe(4 * (2 * 1024 * 1024 + 2 * 1024 * 256 + 3 * 1024 * 2816));
    expect(layerGemmCpuBytes(bench)).toBeGreaterThanOrEqual(STREAM_DEFAULT_LAYER_BYTES);
  });

  it('keeps layers for the tiny model on the CPU (a model folder read from disk)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-choose-'));
    try {
      await makeTinyModel({ ...TINY_DEFAULTS, layers: 2, out: dir });
      expect(await choosePrefillForModel(undefined, dir, 'cpu')).toEqual({ mode: 'layers' });
      expect(await choosePrefillForModel(undefined, dir, 'cpu', 16384)).toEqual({ mode: 'layers' });
      expect(await choosePrefillForModel('stream', dir, 'cpu')).toEqual({ mode: 'stream' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on CUDA: layers, unless the stored weights exceed the device\'s free memory', () => {
    const cuda = { ...env, cudaInstalled: true, mallocTuned: true };
    expect(choosePrefillMode(undefined, w, 'auto', cuda)).toEqual({ mode: 'layers' });
    expect(choosePrefillMode(undefined, w, 'cuda', { ...cuda, cudaFreeBytes: 40 * GiB })).toEqual({ mode: 'layers' });
    const small = choosePrefillMode(undefined, w, 'cuda', { ...cuda, cudaFreeBytes: 12 * GiB });
    expect(small.mode).toBe('stream');
    expect(small.note).toMatch(/16\.0 GiB and the CUDA device has 12\.0 GiB free/);
  });
});

describe('weightBytes', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poc-weights-'));
    await makeTinyModel({ ...TINY_DEFAULTS, dtype: 'float16', layers: 2, out: dir });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts float16 GEMM weights twice over for the CPU provider, the embedding and norms as stored', async () => {
    const { model } = await readModelProto(await findOnnxFile(dir));
    const got = weightBytes(model);
    const o = TINY_DEFAULTS;
    const d = o.hidden / o.heads;
    // independent arithmetic from the tiny model's shapes: per layer q, k, v, o and the MLP's
    // three matrices (float16, read by MatMul), two norm scales; the embedding, the final
    // norm and lm_head
    const gemmPerLayer = o.hidden * o.heads * d + 2 * o.hidden * o.kvHeads * d + o.heads * d * o.hidden + 3 * o.hidden * o.intermediate;
    const gemm = 2 * gemmPerLayer + o.hidden * o.vocab;
    const other = o.vocab * o.hidden + (2 * 2 + 1) * o.hidden;
    // the export may hold small constants beside the weights (shapes, rotary tables): a few KiB at most
    const extraStored = got.stored - 2 * (gemm + other);
    expect(extraStored).toBeGreaterThanOrEqual(0);
    expect(extraStored).toBeLessThan(64 * 1024);
    expect(got.cpuResident - got.stored).toBe(2 * gemm);
  });
});

describe('the CLI malloc relaunch', () => {
  it('is opt-in (POC_MALLOC_TUNE=1), for capture and demo runs on Linux, once', () => {
    const argv = (...a: string[]) => ['node', 'poc.js', ...a];
    const on = { POC_MALLOC_TUNE: '1' };
    expect(wantsMallocRelaunch(argv('capture', '--task', 'vt'), {}, 'linux')).toBe(false);
    expect(wantsMallocRelaunch(argv('capture', '--task', 'vt'), { POC_MALLOC_TUNE: '0' }, 'linux')).toBe(false);
    expect(wantsMallocRelaunch(argv('capture', '--task', 'vt'), on, 'linux')).toBe(true);
    expect(wantsMallocRelaunch(argv('--verbose', 'capture'), on, 'linux')).toBe(true);
    expect(wantsMallocRelaunch(argv('demo'), on, 'linux')).toBe(true);
    expect(wantsMallocRelaunch(argv('analyze', '--in', 'capture'), on, 'linux')).toBe(false);
    expect(wantsMallocRelaunch(argv('capture'), { ...on, POC_MALLOC_TUNED: '4242' }, 'linux')).toBe(false);
    expect(wantsMallocRelaunch(argv('capture'), on, 'darwin')).toBe(false);
    expect(CAPTURE_MALLOC_ENV).toEqual({ MALLOC_ARENA_MAX: '1', MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 40) });
  });
});
