import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile, mkdir, cp } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapture, type CaptureOptions } from '../../src/capture/run-capture.js';
import { listCorpusFiles, readCorpusMeta, validateCorpusFile } from '../../src/corpus/index.js';
import { halfToFloat32, openNpz } from '../../src/npz/index.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { UserError } from '../../src/errors.js';
import { readSafetensors, referenceForward } from '../model/reference-llama.js';
import { requirePython, runPython } from '../helpers/python.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const quiet = { write: () => true, isTTY: false };

let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-capture-'));
  modelDir = join(root, 'model');
  await makeTinyModel({ ...TINY_DEFAULTS, out: modelDir });
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

function options(out: string, extra: Partial<CaptureOptions> = {}): CaptureOptions {
  return {
    tasks: ['niah_single_1'], promptIdx: [0], model: modelDir, out, source: 'synthetic', promptFormat: 'chat',
    maxLength: 700, nSink: 16, tSub: 64, chunk: 128, seed: 0, ep: 'cpu', withInputIds: true, withKeys: false,
    force: false, threads: 1, stderr: quiet, ...extra,
  };
}

async function readAll(path: string) {
  const r = await openNpz(path);
  const get = async (name: string) => (await r.read(name));
  const out = {
    hidden: await get('hidden'), queries: await get('queries'), positions: await get('positions'),
    inputIds: r.field('input_ids') ? await get('input_ids') : undefined, kLen: Number((await get('k_len')).data[0]),
  };
  await r.close();
  return out;
}

/** max |a - b| / (max |b| over the tensor): float16 storage gives ~5e-4. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { worst = Math.max(worst, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return worst / scale;
}

describe('poc capture on the tiny model', () => {
  it('writes contract files whose rows equal an independent float64 forward of model.safetensors', async () => {
    const out = join(root, 'c-ref');
    const result = await runCapture(options(out));
    expect(result.written).toHaveLength(1);
    const f = await readAll(result.written[0]!);
    const cfg = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8'));
    const L = cfg.num_hidden_layers, H = cfg.hidden_size, nq = cfg.num_attention_heads, d = cfg.head_dim;
    const T = 64;
    expect(f.hidden.shape).toEqual([L, T, H]);
    expect(f.queries.shape).toEqual([L, nq, T, d]);
    const pos = f.positions.data as Int32Array;
    for (let i = 0; i < T; i++) {
      expect(pos[i]).toBeGreaterThanOrEqual(16);
      expect(pos[i]).toBeLessThan(f.kLen);
      if (i > 0) expect(pos[i]).toBeGreaterThan(pos[i - 1]!);
    }
    const ids = Array.from(f.inputIds!.data as Int32Array);
    expect(ids.length).toBe(f.kLen);
    const ref = referenceForward(modelDir, ids);
    const hidden = halfToFloat32(f.hidden.data as Uint16Array);
    const queries = halfToFloat32(f.queries.data as Uint16Array);
    const W = readSafetensors(join(modelDir, 'model.safetensors'));
    for (let l = 0; l < L; l++) {
      const wantH = new Float64Array(T * H), gotH = hidden.subarray(l * T * H, (l + 1) * T * H);
      const wantQ = new Float64Array(nq * T * d), gotQ = new Float64Array(nq * T * d), fromHidden = new Float64Array(nq * T * d);
      const wq = W[`model.layers.${l}.self_attn.q_proj.weight`]!.values; // [nq*d, H]
      for (let t = 0; t < T; t++) {
        const p = pos[t]!;
        wantH.set(ref.hidden[l]!.subarray(p * H, (p + 1) * H), t * H);
        for (let h = 0; h < nq; h++) for (let j = 0; j < d; j++) {
          wantQ[(h * T + t) * d + j] = ref.queries[l]![p * nq * d + h * d + j]!;
          gotQ[(h * T + t) * d + j] = queries[((l * nq + h) * T + t) * d + j]!;
          let s = 0;
          for (let k = 0; k < H; k++) s += gotH[t * H + k]! * wq[(h * d + j) * H + k]!;
          fromHidden[(h * T + t) * d + j] = s;
        }
      }
      // tolerance: float16 storage (half ulp 4.9e-4 relative) plus float32 compute
      expect(relErr(gotH, wantH), `hidden layer ${l}`).toBeLessThan(2e-3);
      expect(relErr(gotQ, wantQ), `queries layer ${l}`).toBeLessThan(2e-3);
      // queries are q_proj of the captured hidden state (both rounded to float16)
      expect(relErr(gotQ, fromHidden), `queries = hidden Wq^T, layer ${l}`).toBeLessThan(3e-3);
    }
    const meta = await readCorpusMeta(out);
    expect(meta?.tasks).toEqual({ niah_single_1: [0] });
    expect(meta?.model).toMatchObject({ num_hidden_layers: L, num_attention_heads: nq, num_key_value_heads: cfg.num_key_value_heads, head_dim: d, hidden_size: H });
    expect(meta?.capture).toMatchObject({ max_length: 700, n_sink: 16, t_sub: 64, seed: 0, source: 'synthetic', prompt_format: 'chat', dtype: 'float16' });
  });

  it('loads in numpy with the contract dtypes and shapes', async () => {
    requirePython();
    const out = join(root, 'c-ref');
    const [file] = await listCorpusFiles(out);
    const text = runPython(`
import numpy as np, sys, json
z = np.load(sys.argv[1], allow_pickle=False)
print(json.dumps({k: [z[k].dtype.str, list(z[k].shape)] for k in z.files}))
`, [file!.path]);
    const fields = JSON.parse(text);
    expect(fields.hidden).toEqual(['<f2', [2, 64, 64]]);
    expect(fields.queries).toEqual(['<f2', [2, 4, 64, 16]]);
    expect(fields.positions).toEqual(['<i4', [64]]);
    expect(fields.task[0]).toMatch(/^<U\d+$/);
    expect(fields.prompt_idx).toEqual(['<i8', []]);
    expect(fields.k_len).toEqual(['<i8', []]);
    expect(fields.input_ids[0]).toBe('<i4');
  });

  it('gives the same rows for one pass and for chunks that split the positions unevenly', async () => {
    const base = await readAll((await runCapture(options(join(root, 'chunk0'), { chunk: 0 }))).written[0]!);
    for (const chunk of [7, 100, 333]) {
      const f = await readAll((await runCapture(options(join(root, `chunk${chunk}`), { chunk }))).written[0]!);
      expect(Array.from(f.positions.data as Int32Array)).toEqual(Array.from(base.positions.data as Int32Array));
      // float32 sums in another order, then float16 rounding: within 2 half-ulps of the tensor scale
      expect(relErr(halfToFloat32(f.queries.data as Uint16Array), halfToFloat32(base.queries.data as Uint16Array)), `chunk ${chunk}`).toBeLessThan(2e-3);
      expect(relErr(halfToFloat32(f.hidden.data as Uint16Array), halfToFloat32(base.hidden.data as Uint16Array)), `chunk ${chunk}`).toBeLessThan(2e-3);
    }
  });

  it('is deterministic (byte-identical files) and resumes by skipping valid files', async () => {
    const a = join(root, 'det-a'), b = join(root, 'det-b');
    await runCapture(options(a, { promptIdx: [0, 1] }));
    await runCapture(options(b, { promptIdx: [0, 1] }));
    for (const name of ['prompt_niah_single_1__p0.npz', 'prompt_niah_single_1__p1.npz']) {
      expect(Buffer.compare(await readFile(join(a, name)), await readFile(join(b, name))), name).toBe(0);
    }
    const again = await runCapture(options(a, { promptIdx: [0, 1, 2] }));
    expect(again.skipped).toHaveLength(2);
    expect(again.written).toHaveLength(1);
    const forced = await runCapture(options(a, { promptIdx: [1], force: true }));
    expect(forced.written).toHaveLength(1);
    expect((await readCorpusMeta(a))?.tasks).toEqual({ niah_single_1: [0, 1, 2] });
    // a run that finds everything done (a re-submitted array task) rewrites nothing, meta.json included
    const metaBefore = await readFile(join(a, 'meta.json'));
    const mtimeBefore = statSync(join(a, 'meta.json')).mtimeMs;
    const idle = await runCapture(options(a, { promptIdx: [0, 2] }));
    expect(idle.written).toHaveLength(0);
    expect(statSync(join(a, 'meta.json')).mtimeMs).toBe(mtimeBefore);
    expect(Buffer.compare(await readFile(join(a, 'meta.json')), metaBefore)).toBe(0);
  });

  it('splits jobs across shards without overlap', async () => {
    const out = join(root, 'shards');
    const s0 = await runCapture(options(out, { tasks: ['niah_single_1', 'niah_single_2'], promptIdx: [0, 1], shard: { index: 0, count: 2 } }));
    const s1 = await runCapture(options(out, { tasks: ['niah_single_1', 'niah_single_2'], promptIdx: [0, 1], shard: { index: 1, count: 2 } }));
    expect(s0.written.length + s1.written.length).toBe(4);
    expect(new Set([...s0.written, ...s1.written]).size).toBe(4);
    expect((await readCorpusMeta(out))?.tasks).toEqual({ niah_single_1: [0, 1], niah_single_2: [0, 1] });
  });

  it('completes after a SIGKILL mid-run, with every file valid and no partial left', async () => {
    const out = join(root, 'killed');
    const args = [BIN, 'capture', '--task', 'vt', '--model', modelDir, '--source', 'synthetic', '--max-length', '1200',
      '--t-sub', '128', '--prompts', '4', '--chunk', '128', '--ep', 'cpu', '--out', out];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let childErr = '';
    child.stderr!.on('data', (b: Buffer) => { childErr += b.toString(); });
    const exited = new Promise((r) => child.once('exit', r));
    // kill as soon as the first file lands, so the second is mid-prefill or mid-write
    await new Promise<void>((resolve) => {
      const timer = setInterval(async () => {
        const names = existsSync(out) ? await readdir(out) : [];
        if (names.some((n) => n.endsWith('.npz') && !n.startsWith('.')) || child.exitCode !== null) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
    });
    await exited;
    expect(childErr).not.toMatch(/poc: /); // it was killed, it did not fail on its own
    // and a leftover of a writer that died for sure (no such pid), whatever the kill hit
    await writeFile(join(out, '.prompt_vt__p3.npz.partial-4000000-dead'), 'PK half written');
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const names = await readdir(out);
    expect(names.filter((n) => n.includes('.partial-'))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.npz')).sort()).toEqual([0, 1, 2, 3].map((j) => `prompt_vt__p${j}.npz`));
    const meta = await readCorpusMeta(out);
    expect(meta?.tasks).toEqual({ vt: [0, 1, 2, 3] });
    for (const f of await listCorpusFiles(out)) expect((await validateCorpusFile(f.path, meta)).problems).toEqual([]);
  }, 300_000);
});

describe('poc capture input errors', () => {
  const expectUserError = async (p: Promise<unknown>, pattern: RegExp) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('names an unknown task and the valid ones', async () => {
    await expectUserError(runCapture(options(join(root, 'e1'), { tasks: ['niah_single_9'] })), /unknown RULER task "niah_single_9"; valid tasks: niah_single_1, .*qa_2/);
  });

  it('says how to get a model when none is given or the folder is missing', async () => {
    const saved = process.env.POC_MODEL;
    delete process.env.POC_MODEL;
    try {
      await expectUserError(runCapture(options(join(root, 'e2'), { model: undefined })), /no model given: .*--model tiny.*optimum-cli export onnx/);
    } finally {
      if (saved !== undefined) process.env.POC_MODEL = saved;
    }
    await expectUserError(runCapture(options(join(root, 'e3'), { model: join(root, 'nope') })), /no such folder/);
  });

  it('refuses a model folder without tokenizer files', async () => {
    const broken = join(root, 'no-tokenizer');
    await cp(modelDir, broken, { recursive: true });
    await rm(join(broken, 'tokenizer.json'));
    await expectUserError(runCapture(options(join(root, 'e4'), { model: broken })), /tokenizer/);
  });

  it('refuses an unwritable --out and leaves nothing behind', async () => {
    const parent = join(root, 'ro');
    await mkdir(parent);
    await chmod(parent, 0o500);
    const isRoot = process.getuid?.() === 0;
    try {
      const target = isRoot ? join(root, 'c-ref', 'prompt_niah_single_1__p0.npz', 'x') : join(parent, 'corpus');
      await expectUserError(runCapture(options(target)), /cannot write to --out/);
    } finally {
      await chmod(parent, 0o700);
    }
  });

  it('refuses to mix settings into a corpus captured with others', async () => {
    const out = join(root, 'c-ref');
    await expectUserError(runCapture(options(out, { tSub: 32 })), /captured with other settings \(capture\.t_sub: 64 in meta\.json vs 32 now\)/);
  });

  it('refuses a prompt shorter than n_sink + t_sub, writing nothing for it', async () => {
    const out = join(root, 'short');
    await expectUserError(runCapture(options(out, { tSub: 680 })), /fewer than t_sub = 680.*nothing written/);
    expect((await readdir(out)).filter((n) => n.endsWith('.npz'))).toEqual([]);
  });

  it('exits 1 with one line from the CLI', () => {
    const r = spawnSync(process.execPath, [BIN, 'capture', '--task', 'bogus', '--model', modelDir, '--out', join(root, 'e5')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^poc: unknown RULER task "bogus"/);
    const none = spawnSync(process.execPath, [BIN, 'capture', '--model', modelDir], { encoding: 'utf8' });
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no task given/);
  });
});
