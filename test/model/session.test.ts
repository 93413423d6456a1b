import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { closeCaptureSession, createCaptureSession, emptyKvCache, runChunk } from '../../src/model/runtime/session.js';
import { cudaProviderInstalled } from '../../src/model/runtime/providers.js';
import { formatDoctorReport, runDoctor } from '../../src/model/runtime/doctor.js';
import { UserError } from '../../src/errors.js';
import { main } from '../../src/cli/main.js';

let dir = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poc-session-'));
  await makeTinyModel({ ...TINY_DEFAULTS, out: dir });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('execution providers', () => {
  it.runIf(!cudaProviderInstalled())('--ep cuda without the CUDA provider is a UserError naming the install command', async () => {
    const err = await createCaptureSession(dir, { ep: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/npm run setup:cuda/);
    expect((err as Error).message).toMatch(/CUDA 12.*cuDNN 9/);
  });

  it.runIf(!cudaProviderInstalled())('--ep auto falls back to CPU with exactly one warning line', async () => {
    const warnings: string[] = [];
    const s = await createCaptureSession(dir, { ep: 'auto', warn: (l) => warnings.push(l) });
    expect(s.ep).toBe('cpu');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain('\n');
    expect(warnings[0]).toMatch(/running on CPU/);
    await closeCaptureSession(s);
  });

  it('runChunk rejects capture positions outside the chunk', async () => {
    const s = await createCaptureSession(dir, { ep: 'cpu', threads: 1 });
    await expect(runChunk(s, { inputIds: [1, 2, 3], capturePositions: [3], past: emptyKvCache(s) })).rejects.toThrow(/outside the chunk/);
    await closeCaptureSession(s);
  });
});

describe('capture graph placement', () => {
  it('a graph placed in the cache folder loads the export external data and captures the same bits', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'poc-cache-'));
    const saved = process.env.POC_CACHE;
    process.env.POC_CACHE = cache;
    try {
      const beside = await createCaptureSession(dir, { ep: 'cpu', threads: 1 });
      const cached = await createCaptureSession(dir, { ep: 'cpu', threads: 1, graphLocation: 'cache' });
      expect(cached.graph.path.startsWith(cache)).toBe(true);
      expect(beside.graph.path.startsWith(dir)).toBe(true);
      const ids = [5, 9, 200, 17, 3, 88];
      const a = await runChunk(beside, { inputIds: ids, capturePositions: [1, 4], past: emptyKvCache(beside) });
      const b = await runChunk(cached, { inputIds: ids, capturePositions: [1, 4], past: emptyKvCache(cached) });
      expect(Buffer.from(b.queriesF16.buffer).equals(Buffer.from(a.queriesF16.buffer))).toBe(true);
      expect(Buffer.from(b.hiddenF16.buffer).equals(Buffer.from(a.hiddenF16.buffer))).toBe(true);
      await closeCaptureSession(beside);
      await closeCaptureSession(cached);
    } finally {
      if (saved === undefined) delete process.env.POC_CACHE;
      else process.env.POC_CACHE = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('models in the Hugging Face cache layout (files are symlinks into blobs/)', () => {
  it('captures from a snapshot folder, with the graph in the cache naming the real blobs', async () => {
    const root = mkdtempSync(join(tmpdir(), 'poc-hfl-'));
    const saved = process.env.POC_CACHE;
    process.env.POC_CACHE = join(root, 'poc-cache');
    try {
      const snap = join(root, 'snapshots', 'rev');
      mkdirSync(join(root, 'blobs'));
      mkdirSync(snap, { recursive: true });
      readdirSync(dir)
        .filter((f) => !f.startsWith('poc-capture-'))
        .forEach((f, i) => {
          copyFileSync(join(dir, f), join(root, 'blobs', `blob${i}`));
          symlinkSync(`../../blobs/blob${i}`, join(snap, f));
        });
      const s = await createCaptureSession(snap, { ep: 'cpu', threads: 1 });
      expect(s.graph.path.startsWith(join(root, 'poc-cache'))).toBe(true);
      expect(readdirSync(snap).some((f) => f.startsWith('poc-capture-'))).toBe(false);
      const plain = await createCaptureSession(dir, { ep: 'cpu', threads: 1 });
      const ids = [3, 1, 4, 1, 5, 9, 2, 6];
      const a = await runChunk(s, { inputIds: ids, capturePositions: [0, 7], past: emptyKvCache(s) });
      const b = await runChunk(plain, { inputIds: ids, capturePositions: [0, 7], past: emptyKvCache(plain) });
      expect(Buffer.from(a.queriesF16.buffer).equals(Buffer.from(b.queriesF16.buffer))).toBe(true);
      await closeCaptureSession(s);
      await closeCaptureSession(plain);
    } finally {
      if (saved === undefined) delete process.env.POC_CACHE;
      else process.env.POC_CACHE = saved;
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('doctor', () => {
  it('reports the ORT version, the CPU provider, the HF cache from HF_HOME and free disk', async () => {
    const home = mkdtempSync(join(tmpdir(), 'poc-hf-'));
    try {
      const r = await runDoctor({ HF_HOME: home });
      expect(r.onnxruntimeVersion).toMatch(/^1\.\d+\.\d+/);
      expect(r.providers.find((p) => p.name === 'cpu')?.loads).toBe(true);
      expect(r.hfCache).toEqual({ path: join(home, 'hub'), from: 'HF_HOME', exists: false });
      expect(r.disks.length).toBeGreaterThan(0);
      expect(r.disks[0]!.freeBytes).toBeGreaterThan(0);
      const text = formatDoctorReport(r).join('\n');
      expect(text).toContain(join(home, 'hub'));
      if (!r.cudaInstalled) expect(text).toMatch(/cuda provider: not installed.*npm run setup:cuda/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('poc doctor prints the report and exits 0', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['node', 'poc', 'doctor'])).toBe(0);
      const text = out.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toMatch(/^onnxruntime-node 1\.\d+\.\d+ on node v\d+/);
      expect(text).toMatch(/cpu\s+loads/);
      expect(text).toMatch(/free disk at /);
    } finally {
      out.mockRestore();
    }
  });
});
