import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapture, type CaptureOptions } from '../../src/capture/run-capture.js';
import { listCorpusFiles, readCorpusMeta } from '../../src/corpus/index.js';
import { openNpz, writeNpz, type NdArray } from '../../src/npz/index.js';
import { UserError } from '../../src/errors.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { referenceForward } from '../model/reference-llama.js';
import { requirePython, runPython } from '../helpers/python.js';

// `poc capture --with-values` end to end: the CLI writes `values`, numpy reads it with the
// contract's dtype and shape, and its rows are v_proj of an independent float64 forward of
// model.safetensors at the file's positions, in every prefill mode.

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const quiet = { write: () => true, isTTY: false };
const o = { ...TINY_DEFAULTS, style: 'genai' as const, kvHeads: 2, heads: 4, maxPosition: 1024 };
const d = o.hidden / o.heads;
const T_SUB = 48;

let root: string;
let modelDir: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-values-'));
  modelDir = join(root, 'model');
  // genai: v is the last columns of a packed qkv projection, the harder tap
  await makeTinyModel({ ...o, out: modelDir });
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** Run the CLI asynchronously (other test files may share the cores). */
function poc(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

const captureArgs = (out: string, ...extra: string[]) => [
  'capture', '--task', 'niah_single_1', '--model', modelDir, '--source', 'synthetic', '--max-length', '700', '--t-sub', String(T_SUB),
  '--prompts', '1', '--chunk', '64', '--ep', 'cpu', '--with-input-ids', '--with-values', '--out', join(root, out), ...extra,
];

/**
 * numpy's view of a file: dtype and shape of every field, the values as float64, the ids and
 * positions; compared here with the reference rows [L, n_kv, T_sub, d] at those positions.
 */
function numpyValues(path: string) {
  const text = runPython(`
import numpy as np, sys, json
z = np.load(sys.argv[1], allow_pickle=False)
print(json.dumps({
  'fields': {k: [z[k].dtype.str, list(z[k].shape)] for k in z.files},
  'values': z['values'].astype(np.float64).ravel().tolist(),
  'input_ids': z['input_ids'].tolist(),
  'positions': z['positions'].tolist(),
}))
`, [path]);
  return JSON.parse(text) as { fields: Record<string, [string, number[]]>; values: number[]; input_ids: number[]; positions: number[] };
}

/** Max |got - want| beyond half a float16 ulp of each value, in units of rms(want). */
function excessOverRounding(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let ss = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    ss += want[i]! ** 2;
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) - 2 ** -11 * (1 + 1e-6) * Math.abs(want[i]!));
  }
  return worst / Math.sqrt(ss / want.length);
}

describe('poc capture --with-values through the CLI (tiny genai float32 model, GQA group 2)', () => {
  // --chunk 0 is the one-pass graph; the others chunk through the KV cache in 64-token chunks
  it.each([['layers'], ['stream'], ['chunks'], ['loop'], ['one-pass']])('--prefill %s: numpy reads values equal to v_proj of the float64 reference; inspect validates it', async (mode) => {
    const extra = mode === 'one-pass' ? ['--chunk', '0'] : ['--prefill', mode];
    const r = await poc(captureArgs(`cli-${mode}`, ...extra));
    expect(r.status, r.stderr).toBe(0);
    const [file] = await listCorpusFiles(join(root, `cli-${mode}`));
    requirePython();
    const z = numpyValues(file!.path);
    expect(z.fields.values).toEqual(['<f2', [o.layers, o.kvHeads, T_SUB, d]]);
    expect(z.fields.keys).toBeUndefined();
    // v_proj of the reference at the file's positions, [L, n_kv, T_sub, d]
    const ref = referenceForward(modelDir, z.input_ids);
    const want = new Float64Array(o.layers * o.kvHeads * T_SUB * d);
    for (let l = 0; l < o.layers; l++) for (let g = 0; g < o.kvHeads; g++) z.positions.forEach((p, i) => {
      want.set(ref.values[l]![g]!.subarray(p * d, (p + 1) * d), ((l * o.kvHeads + g) * T_SUB + i) * d);
    });
    // float32 model: the float16 storage rounds each value by at most half an ulp; float32
    // arithmetic adds far less than 1e-4 of the rms (as test/model/capture.test.ts)
    expect(excessOverRounding(z.values, want)).toBeLessThan(1e-4);
    const meta = await readCorpusMeta(join(root, `cli-${mode}`));
    expect(meta?.capture).toMatchObject({ with_values: true, with_keys: false });
    const inspected = await poc(['inspect', file!.path]);
    expect(inspected.status, inspected.stdout + inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(new RegExp(`values\\s+float16\\s+\\[${o.layers}, ${o.kvHeads}, ${T_SUB}, ${d}\\]`));
    expect(inspected.stdout).toContain('corpus file: valid');
  }, 120_000);

  it('explains the flag in --help', () => {
    const help = spawnSync(process.execPath, [BIN, 'capture', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--with-values .*value projection v_proj .*no RoPE/);
  });
});

describe('resuming a corpus with or without values', () => {
  function options(out: string, extra: Partial<CaptureOptions> = {}): CaptureOptions {
    return {
      tasks: ['niah_single_1'], promptIdx: [0, 1], model: modelDir, out: join(root, out), source: 'synthetic', promptFormat: 'chat',
      maxLength: 700, nSink: 16, tSub: T_SUB, chunk: 64, seed: 0, ep: 'cpu', withInputIds: false, withKeys: false,
      force: false, threads: 1, stderr: quiet, ...extra,
    };
  }
  const userError = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  };

  it('refuses to add values to a corpus captured without them, and the reverse', async () => {
    const plain = await runCapture(options('plain'));
    expect(plain.written).toHaveLength(2);
    expect((await readCorpusMeta(join(root, 'plain')))?.capture?.with_values).toBe(false);
    expect(await userError(runCapture(options('plain', { withValues: true })))).toMatch(/captured with other settings \(capture\.with_values: false in meta\.json vs true now\)/);
    const withValues = await runCapture(options('with-values', { withValues: true }));
    expect(withValues.written).toHaveLength(2);
    expect(await userError(runCapture(options('with-values')))).toMatch(/capture\.with_values: true in meta\.json vs false now/);
    // the same settings resume: both files skipped
    expect((await runCapture(options('with-values', { withValues: true }))).skipped).toHaveLength(2);
    // and the CLI says it in one line, exit 1
    const r = await poc(captureArgs('plain', '--prompts', '2'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^poc: .*capture\.with_values: false in meta\.json vs true now/);
  }, 120_000);

  it('refuses values into a corpus whose meta.json predates the flag (no with_values)', async () => {
    await runCapture(options('old'));
    const metaPath = join(root, 'old', 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    delete meta.capture.with_values;
    await writeFile(metaPath, JSON.stringify(meta));
    expect(await userError(runCapture(options('old', { withValues: true })))).toMatch(/capture\.with_values: absent \(false\) in meta\.json vs true now/);
    // without values it still resumes
    expect((await runCapture(options('old'))).skipped).toHaveLength(2);
  }, 120_000);

  it('recaptures a file that lacks values in a corpus that has them', async () => {
    const out = 'one-missing';
    await runCapture(options(out, { withValues: true }));
    const path = join(root, out, 'prompt_niah_single_1__p1.npz');
    const r = await openNpz(path);
    const arrays: Record<string, NdArray> = {};
    for (const f of r.fields) if (f.name !== 'values') arrays[f.name] = await r.read(f.name);
    await r.close();
    await rm(path);
    await writeNpz(path, arrays);
    const again = await runCapture(options(out, { withValues: true }));
    expect(again.skipped.map((p) => p.split('/').pop())).toEqual(['prompt_niah_single_1__p0.npz']);
    expect(again.written.map((p) => p.split('/').pop())).toEqual(['prompt_niah_single_1__p1.npz']);
    const back = await openNpz(path);
    expect(back.field('values')?.shape).toEqual([o.layers, o.kvHeads, T_SUB, d]);
    await back.close();
  }, 120_000);
});
