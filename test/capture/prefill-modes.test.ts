import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listCorpusFiles, readCorpusMeta, validateCorpusFile } from '../../src/corpus/index.js';
import { halfToFloat32, openNpz } from '../../src/npz/index.js';
import { runCapture } from '../../src/capture/run-capture.js';
import { InterruptedError } from '../../src/errors.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));

let root: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-prefill-modes-'));
  // the tiny model is built into this run's own cache
  env = { ...process.env, POC_CACHE: join(root, 'cache') };
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** Run the CLI asynchronously (two captures may share the cores with other test files). */
function poc(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('exit', (status) => resolve({ status, stderr }));
  });
}

const captureWith = (extraEnv: NodeJS.ProcessEnv, out: string, ...extra: string[]) =>
  poc(['capture', '--task', 'vt', '--model', 'tiny', '--source', 'synthetic', '--max-length', '1000', '--t-sub', '64',
    '--prompts', '2', '--chunk', '100', '--ep', 'cpu', '--with-keys', '--out', join(root, out), ...extra], extraEnv);
const capture = (out: string, ...extra: string[]) => captureWith({}, out, ...extra);

async function fields(path: string) {
  const r = await openNpz(path);
  const out: Record<string, Float32Array> = {};
  for (const name of ['hidden', 'queries', 'keys']) out[name] = halfToFloat32((await r.read(name)).data as Uint16Array);
  await r.close();
  return out;
}

/** max |a - b| / max |b|: float16 storage gives ~5e-4. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { worst = Math.max(worst, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return worst / scale;
}

describe('poc capture --prefill layers through the CLI (tiny model, synthetic prompts)', () => {
  it('writes valid files, byte-identical across reruns, that a chunked run treats as done', async () => {
    const a = await capture('layers-a', '--prefill', 'layers');
    expect(a.status, a.stderr).toBe(0);
    const b = await capture('layers-b', '--prefill', 'layers');
    expect(b.status, b.stderr).toBe(0);
    const files = await listCorpusFiles(join(root, 'layers-a'));
    expect(files.map((f) => f.path.split('/').pop()).sort()).toEqual(['prompt_vt__p0.npz', 'prompt_vt__p1.npz']);
    const meta = await readCorpusMeta(join(root, 'layers-a'));
    expect(meta?.tasks).toEqual({ vt: [0, 1] });
    for (const f of files) {
      expect((await validateCorpusFile(f.path, meta)).problems).toEqual([]);
      const name = f.path.split('/').pop()!;
      expect(Buffer.compare(await readFile(f.path), await readFile(join(root, 'layers-b', name))), name).toBe(0);
    }
    // resume: the mode is not a setting of the corpus, so a chunked run skips both files
    const resumed = await capture('layers-a', '--prefill', 'chunks');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/0 written, 2 skipped/);
  });

  it('gives the rows of the chunked prefill up to float rounding', async () => {
    const c = await capture('chunks', '--prefill', 'chunks');
    expect(c.status, c.stderr).toBe(0);
    for (const name of ['prompt_vt__p0.npz', 'prompt_vt__p1.npz']) {
      const layers = await fields(join(root, 'layers-a', name));
      const chunks = await fields(join(root, 'chunks', name));
      // float32 sums in another order, then float16 rounding: within 2 half-ulps of the tensor scale
      for (const k of ['hidden', 'queries', 'keys']) expect(relErr(layers[k]!, chunks[k]!), `${name} ${k}`).toBeLessThan(2e-3);
    }
  });

  it('refuses --prefill layers with --chunk 0, and an unknown mode, in one line', () => {
    const both = spawnSync(process.execPath, [BIN, 'capture', '--task', 'vt', '--model', 'tiny', '--prefill', 'layers', '--chunk', '0'], { encoding: 'utf8', env });
    expect(both.status).toBe(1);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect(both.stderr).toMatch(/--chunk 0 prefills the whole graph in one pass/);
    const bogus = spawnSync(process.execPath, [BIN, 'capture', '--task', 'vt', '--prefill', 'rows'], { encoding: 'utf8', env });
    expect(bogus.status).toBe(1);
    expect(bogus.stderr).toMatch(/--prefill/);
    const help = spawnSync(process.execPath, [BIN, 'capture', '--help'], { encoding: 'utf8', env });
    expect(help.stdout).toMatch(/--prefill <mode>/);
  });
});

describe('poc capture --prefill loop through the CLI (tiny model, synthetic prompts)', () => {
  it('writes valid files, byte-identical across reruns, interchangeable with the other modes for resume', async () => {
    const a = await capture('loop-a', '--prefill', 'loop');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/2 written/);
    const b = await capture('loop-b', '--prefill', 'loop');
    expect(b.status, b.stderr).toBe(0);
    const files = await listCorpusFiles(join(root, 'loop-a'));
    expect(files.map((f) => f.path.split('/').pop()).sort()).toEqual(['prompt_vt__p0.npz', 'prompt_vt__p1.npz']);
    const meta = await readCorpusMeta(join(root, 'loop-a'));
    expect(meta?.tasks).toEqual({ vt: [0, 1] });
    // the same meta.json as a layer-by-layer run: the mode is not a setting of the corpus
    expect(await readFile(join(root, 'loop-a', 'meta.json'), 'utf8')).toBe(await readFile(join(root, 'layers-a', 'meta.json'), 'utf8'));
    for (const f of files) {
      expect((await validateCorpusFile(f.path, meta)).problems).toEqual([]);
      const name = f.path.split('/').pop()!;
      expect(Buffer.compare(await readFile(f.path), await readFile(join(root, 'loop-b', name))), name).toBe(0);
    }
    // resume across modes, both ways
    for (const [dir, mode] of [['loop-a', 'layers'], ['loop-a', 'chunks'], ['layers-a', 'loop'], ['chunks', 'loop']]) {
      const r = await capture(dir!, '--prefill', mode!);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr, `${mode} over ${dir}`).toMatch(/0 written, 2 skipped/);
    }
  });

  it('gives the rows of the chunked prefill up to float rounding', async () => {
    for (const name of ['prompt_vt__p0.npz', 'prompt_vt__p1.npz']) {
      const loop = await fields(join(root, 'loop-a', name));
      const chunks = await fields(join(root, 'chunks', name));
      for (const k of ['hidden', 'queries', 'keys']) expect(relErr(loop[k]!, chunks[k]!), `${name} ${k}`).toBeLessThan(2e-3);
    }
  });

  it('refuses --prefill loop with --chunk 0 in one line', () => {
    const r = spawnSync(process.execPath, [BIN, 'capture', '--task', 'vt', '--model', 'tiny', '--prefill', 'loop', '--chunk', '0'], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--chunk 0 prefills the whole graph in one pass/);
  });
});

describe('poc capture --prefill stream through the CLI (tiny model, synthetic prompts)', () => {
  it('writes the files of --prefill layers byte for byte (float32 model), and resumes and is resumed by the other modes', async () => {
    const a = await capture('stream-a', '--prefill', 'stream');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/2 written.*prefill stream/);
    expect(await readFile(join(root, 'stream-a', 'meta.json'), 'utf8')).toBe(await readFile(join(root, 'layers-a', 'meta.json'), 'utf8'));
    const meta = await readCorpusMeta(join(root, 'stream-a'));
    for (const name of ['prompt_vt__p0.npz', 'prompt_vt__p1.npz']) {
      const path = join(root, 'stream-a', name);
      expect((await validateCorpusFile(path, meta)).problems).toEqual([]);
      // the same slices on the same inputs as the layer-switch graph's branches
      expect(Buffer.compare(await readFile(path), await readFile(join(root, 'layers-a', name))), name).toBe(0);
    }
    for (const [dir, mode] of [['stream-a', 'layers'], ['stream-a', 'loop'], ['layers-a', 'stream'], ['chunks', 'stream']]) {
      const r = await capture(dir!, '--prefill', mode!);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr, `${mode} over ${dir}`).toMatch(/0 written, 2 skipped/);
    }
  });

  it('is the default on the CPU under POC_MALLOC_TUNE=1, layers otherwise (same files either way), and refuses --chunk 0 in one line', async () => {
    const tuned = await captureWith({ POC_MALLOC_TUNE: '1' }, 'default-tuned');
    expect(tuned.status, tuned.stderr).toBe(0);
    expect(tuned.stderr).toMatch(/2 written.*\(\d+ tok\/s, cpu, prefill stream\)/);
    const d = await captureWith({ POC_MALLOC_TUNE: '' }, 'default');
    expect(d.status, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/2 written.*\(\d+ tok\/s, cpu, prefill layers\)/);
    for (const name of ['prompt_vt__p0.npz', 'prompt_vt__p1.npz']) {
      for (const dir of ['default', 'default-tuned']) expect(Buffer.compare(await readFile(join(root, dir, name)), await readFile(join(root, 'stream-a', name))), `${dir} ${name}`).toBe(0);
    }
    const r = spawnSync(process.execPath, [BIN, 'capture', '--task', 'vt', '--model', 'tiny', '--prefill', 'stream', '--chunk', '0'], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--chunk 0 prefills the whole graph in one pass, not layer by layer: drop --prefill stream/);
  });
});

describe('poc capture --prefill layers, interrupted', () => {
  it('stops between chunks on abort, leaves no file, and the same run then completes', async () => {
    const modelDir = join(root, 'model');
    await makeTinyModel({ ...TINY_DEFAULTS, out: modelDir });
    const out = join(root, 'aborted');
    const controller = new AbortController();
    const draws: string[] = [];
    // a terminal that aborts at the first progress bar drawn mid-prompt, as Ctrl-C would
    const tty = { isTTY: true, write: (x: string) => { if (x.includes('tok/s')) { draws.push(x); controller.abort(); } return true; } };
    const opts = {
      tasks: ['vt'], promptIdx: [0], model: modelDir, out, source: 'synthetic', promptFormat: 'chat' as const, maxLength: 1000,
      nSink: 16, tSub: 64, chunk: 64, prefill: 'layers' as const, seed: 0, ep: 'cpu' as const, withInputIds: false, withKeys: false, force: false, threads: 1,
    };
    const err = await runCapture({ ...opts, signal: controller.signal, stderr: tty }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(draws.length).toBeGreaterThan(0);
    expect((await readdir(out)).filter((n) => n.endsWith('.npz') || n.includes('.partial-'))).toEqual([]);
    const again = await runCapture({ ...opts, stderr: { write: () => true } });
    expect(again.written).toHaveLength(1);
  });
});
