// The WebGPU provider on SwiftShader, the software Vulkan device of Debian's chromium package:
// correctness only (a software device is orders of magnitude slower than the CPU provider).
// Every run that touches Dawn is a child process with a deadline, so a misbehaving driver
// fails a test instead of hanging the suite. Prompts are short: SwiftShader compiles every
// shader on the CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import type { NodePlacement } from '../../src/model/runtime/placement.js';
import { requirePython, runPython } from '../helpers/python.js';
import { requireSwiftShader, runCliWith, runNodeSnippet, vulkanEnv } from '../helpers/software-gpu.js';

let root = '';
let model = '';
let model16 = '';
let env: NodeJS.ProcessEnv = {};
const CAPTURE = ['capture', '--task', 'niah_single_1', '--source', 'synthetic', '--max-length', '300', '--t-sub', '24', '--prompts', '1', '--with-keys', '--with-values'];

beforeAll(async () => {
  requireSwiftShader();
  root = mkdtempSync(join(tmpdir(), 'poc-webgpu-'));
  model = join(root, 'tiny');
  model16 = join(root, 'tiny16');
  await makeTinyModel({ ...TINY_DEFAULTS, out: model });
  await makeTinyModel({ ...TINY_DEFAULTS, out: model16, dtype: 'float16' });
  env = vulkanEnv(undefined, { POC_CACHE: join(root, 'cache') });
  // the reference: the CPU provider, rows cast to float16 inside the graph
  const cpu = runCliWith(env, [...CAPTURE, '--model', model, '--ep', 'cpu', '--out', join(root, 'cpu')]);
  expect(cpu.status, cpu.stderr).toBe(0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Per field of two corpus files: how many elements differ, how many by more than one float16
 * ulp of the larger magnitude (2^-24 below the normal range), and the largest difference beyond
 * that one ulp in units of the field's rms (numpy reads both files).
 */
function compareFiles(a: string, b: string): Record<string, { differ: number; beyondUlp: number; excessOverRms: number; n: number; positionsEqual: boolean }> {
  const code = `
import json, sys, numpy as np
a, b = np.load(sys.argv[1], allow_pickle=False), np.load(sys.argv[2], allow_pickle=False)
out = {}
for f in ['hidden', 'queries', 'keys', 'values']:
    x, y = a[f].astype(np.float64).ravel(), b[f].astype(np.float64).ravel()
    m = np.maximum(np.abs(x), np.abs(y))
    ulp = np.where(m < 2.0**-14, 2.0**-24, 2.0**(np.floor(np.log2(np.maximum(m, 2.0**-14))) - 10))
    d = np.abs(x - y)
    out[f] = dict(differ=int((d > 0).sum()), beyondUlp=int((d > ulp).sum()), excessOverRms=float(np.maximum(d - ulp, 0).max() / np.sqrt((x * x).mean())),
                  n=int(d.size), positionsEqual=bool((a['positions'] == b['positions']).all() and a['k_len'] == b['k_len']))
print(json.dumps(out))`;
  return JSON.parse(runPython(code, [a, b]));
}

const FILE = 'prompt_niah_single_1__p0.npz';

describe('--ep webgpu on SwiftShader (no shader-f16: rows rounded on the host)', () => {
  // The bound: |gpu - cpu| <= 1 float16 ulp of the larger magnitude + 1e-3 x the field's rms.
  // The ulp is the rounding: two float32 values on either side of a float16 rounding boundary
  // come out one ulp apart. The rms term is SwiftShader's own float32 error (its exp, pow and
  // sqrt are approximations): measured up to 3.0e-4 x rms beyond the ulp, as the tiny model's
  // logits differ by 1.8e-4 relative; those elements (2-4 % here) are counted and printed. Fewer
  // than a quarter of the elements may differ at all (measured 12-17 %): a broken host rounding
  // (truncation, a wrong field) would move about half or all of them.
  const MODES: Array<{ name: string; flags: string[] }> = [
    { name: '--prefill layers', flags: ['--prefill', 'layers', '--chunk', '48'] },
    { name: '--prefill stream', flags: ['--prefill', 'stream', '--chunk', '48'] },
    { name: '--prefill chunks', flags: ['--prefill', 'chunks', '--chunk', '48'] },
    { name: '--prefill loop', flags: ['--prefill', 'loop', '--chunk', '48'] },
    { name: '--chunk 0 (one pass)', flags: ['--chunk', '0', '--prefill', 'chunks'] },
  ];
  for (const mode of MODES) {
    it(`${mode.name} with --with-keys --with-values gives the CPU provider's rows within one float16 ulp + SwiftShader's float32 error`, () => {
      requirePython();
      const out = join(root, `gpu-${mode.flags.join('')}`);
      const r = runCliWith(env, [...CAPTURE, '--model', model, '--ep', 'webgpu', '--out', out, ...mode.flags]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/tok\/s, webgpu, prefill [\w-]+\)/);
      const diff = compareFiles(join(root, 'cpu', FILE), join(out, FILE));
      console.log(`[webgpu] ${mode.name}: ${Object.entries(diff).map(([f, d]) => `${f} ${d.differ}/${d.n} differ, ${d.beyondUlp} by more than 1 ulp, by at most 1 ulp + ${d.excessOverRms.toExponential(1)} rms`).join('; ')}`);
      for (const [field, d] of Object.entries(diff)) {
        expect(d.positionsEqual, field).toBe(true);
        expect(d.excessOverRms, field).toBeLessThanOrEqual(1e-3);
        expect(d.differ / d.n, field).toBeLessThan(0.25);
      }
    });
  }

  it('a GroupQueryAttention export runs but gets one warning line (its attention was measured wrong on SwiftShader)', async () => {
    const genai = join(root, 'tiny-genai');
    await makeTinyModel({ ...TINY_DEFAULTS, out: genai, style: 'genai', maxPosition: 512 });
    const r = runCliWith(env, [...CAPTURE, '--model', genai, '--ep', 'webgpu', '--out', join(root, 'gpu-genai'), '--prefill', 'chunks', '--chunk', '300']);
    expect(r.status, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings, r.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(/fused attention \(GroupQueryAttention\).*--ep cpu/);
  });

  it('an export that computes in float16 exits 1 with one line saying why', () => {
    const r = runCliWith(env, [...CAPTURE, '--model', model16, '--ep', 'webgpu', '--out', join(root, 'gpu16')]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/computes in float16.*no shader-f16/);
    expect(existsSync(join(root, 'gpu16', FILE))).toBe(false);
  });
});

describe('--ep auto and missing adapters', () => {
  it('--ep auto does not pick SwiftShader: one line says it runs on the CPU and why', () => {
    const out = join(root, 'auto');
    const r = runCliWith(env, [...CAPTURE, '--model', model, '--ep', 'auto', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const said = r.stderr.split('\n').filter((l) => /provider|running on CPU/.test(l) && !/^capture:/.test(l));
    expect(said, r.stderr).toHaveLength(1);
    expect(said[0]).toMatch(/running on CPU/);
    expect(said[0]).toMatch(/software adapters, skipped: SwiftShader/);
    expect(r.stderr).toMatch(/tok\/s, cpu, prefill [\w-]+\)/);
  });

  it('with no Vulkan device, --ep webgpu exits 1 with one line and writes nothing', () => {
    const none = vulkanEnv(join(root, 'no-such-icd.json'), { POC_CACHE: join(root, 'cache') });
    const out = join(root, 'none');
    const r = runCliWith(none, [...CAPTURE, '--model', model, '--ep', 'webgpu', '--out', out]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/--ep webgpu: no WebGPU adapter \(Failed to get a WebGPU adapter.*--ep cpu/);
    expect(existsSync(join(out, FILE))).toBe(false);
  });

  it('poc doctor lists SwiftShader as a software adapter without shader-f16, and says in one line when there is none', () => {
    const r = runCliWith(env, ['doctor']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}SwiftShader.*\(google, software, no shader-f16\)$/m);
    expect(r.stdout).toMatch(/^webgpu provider: adapter found, no shader-f16/m);
    const none = runCliWith(vulkanEnv(join(root, 'no-such-icd.json')), ['doctor']);
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout.split('\n').filter((l) => l.startsWith('webgpu adapters'))).toEqual([expect.stringMatching(/^webgpu adapters: none; /)]);
    expect(none.stdout).toMatch(/^ {2}webgpu +unavailable \(bundled\): Failed to get a WebGPU adapter/m);
  });
});

describe('what the WebGPU provider leaves to the CPU (onnxruntime profile, one prompt chunk per graph)', () => {
  it('keeps MatMul, Softmax and the gathers of the captured rows on the GPU; the CPU gets only index and shape work', () => {
    const dist = (p: string) => JSON.stringify(new URL(`../../dist/model/${p}`, import.meta.url).href);
    const prof = join(root, 'profiles');
    const code = `
      import { readdirSync, readFileSync, mkdirSync } from 'node:fs';
      import { createCaptureSession, runChunk, emptyKvCache } from ${dist('runtime/session.js')};
      import { createLayerSession, allocateLayerState, runLayerChunk } from ${dist('runtime/layer-session.js')};
      import { createLoopSession, runLoopPrefill } from ${dist('runtime/loop-session.js')};
      import { nodePlacement } from ${dist('runtime/placement.js')};
      const dir = ${JSON.stringify(prof)};
      mkdirSync(dir, { recursive: true });
      const model = ${JSON.stringify(model)};
      const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 300 + 3);
      const opts = (name) => ({ ep: 'webgpu', withKeys: true, withValues: true, threads: 1, profilePrefix: dir + '/' + name });
      const a = await createCaptureSession(model, opts('chunks'));
      await runChunk(a, { inputIds: ids, capturePositions: [3, 9], past: emptyKvCache(a, 40) });
      await a.session.endProfiling();
      const b = await createLayerSession(model, opts('layers'));
      await runLayerChunk(b, allocateLayerState(b, 40), { layer: 0, ids, start: 0, length: 40, capturePositions: Int32Array.of(3, 9) });
      await b.session.endProfiling();
      const c = await createLoopSession(model, opts('loop'));
      await runLoopPrefill(c, ids, Int32Array.of(3, 9, 30), 16);
      await c.session.endProfiling();
      const out = {};
      for (const name of ['chunks', 'layers', 'loop']) {
        const f = readdirSync(dir).filter((n) => n.startsWith(name) && n.endsWith('.json'))[0];
        out[name] = nodePlacement(readFileSync(dir + '/' + f, 'utf8'));
      }
      process.stdout.write(JSON.stringify(out));
    `;
    const byGraph = JSON.parse(runNodeSnippet(code, env)) as Record<string, NodePlacement[]>;
    expect(Object.keys(byGraph)).toEqual(['chunks', 'layers', 'loop']);
    for (const [graph, nodes] of Object.entries(byGraph)) {
      const onCpu = nodes.filter((n) => n.provider === 'CPUExecutionProvider');
      const onGpu = nodes.filter((n) => n.provider === 'WebGpuExecutionProvider');
      console.log(`[webgpu] ${graph}: ${onGpu.length} nodes on the GPU, ${onCpu.length} on the CPU: ${[...new Set(onCpu.map((n) => n.op))].sort().join(', ')}`);
      expect(onGpu.length, graph).toBeGreaterThan(onCpu.length);
      const heavy = nodes.filter((n) => ['MatMul', 'Softmax', 'Gemm', 'GroupQueryAttention'].includes(n.op) || /^\/capture\/layers\.\d+\/(hidden|queries|keys|values)\/Gather$/.test(n.node));
      expect(heavy.filter((n) => n.op === 'MatMul').length, graph).toBeGreaterThan(0);
      expect(heavy.filter((n) => n.op === 'Gather').length, graph).toBeGreaterThan(0);
      for (const n of heavy) expect(n.provider, `${graph} ${n.node}`).toBe('WebGpuExecutionProvider');
      // the CPU computes index and shape tensors only: it reads no float tensor (control-flow
      // nodes excepted, whose bodies are profiled node by node)
      for (const n of onCpu) {
        if (n.op === 'Loop' || n.op === 'If') continue;
        expect(n.inputTypes.filter((t) => t === 'float' || t === 'float16'), `${graph} ${n.node} (${n.op})`).toEqual([]);
      }
    }
    expect(readdirSync(prof).length).toBe(3);
  });
});
