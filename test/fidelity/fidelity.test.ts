import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, cp, mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapture, type CaptureOptions } from '../../src/capture/run-capture.js';
import { readCorpusMeta } from '../../src/corpus/index.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { runFidelity, type FidelityRunResult } from '../../src/fidelity/run.js';
import { defaultUnitsPath } from '../../src/analyze/run.js';
import { UserError } from '../../src/errors.js';
import { requirePython, runPython } from '../helpers/python.js';

/**
 * The ranking (--no-press) end to end on a tiny-model corpus captured with --with-keys: the contract CSV, the
 * report and figures, and the truth/Gaussian/empirical numbers of every unit against an
 * independent numpy/scipy implementation written from kvpress's torch code.
 */

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const quiet = { write: () => true, isTTY: false };
const KEEP = [0.1, 0.5];
let root: string;
let result: FidelityRunResult;

function capture(out: string, withKeys: boolean): Promise<unknown> {
  const o: CaptureOptions = {
    tasks: ['vt', 'niah_single_1'], promptIdx: [0], model: join(root, 'model'), out, source: 'synthetic', promptFormat: 'chat',
    maxLength: 1200, nSink: 16, tSub: 96, seed: 0, ep: 'cpu', withInputIds: false, withKeys, force: false, threads: 1, stderr: quiet,
  };
  return runCapture(o);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-fidelity-'));
  await makeTinyModel({ ...TINY_DEFAULTS, out: join(root, 'model') });
  await capture(join(root, 'corpus'), true);
  // float64 kernels so the comparison with numpy is exact up to rounding
  result = await runFidelity({
    corpus: join(root, 'corpus'), out: join(root, 'out', 'fidelity.md'), kMax: 3, future: 0.2, keep: KEEP, progressStream: null,
    kernel: { backend: 'js' }, press: false,
  });
}, 180_000);
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

// kvpress's computation in numpy (expected_attention_press.py: R = cos I + sin P averaged over
// the future positions, mu R^T, R cov R^T, softmax per head, mean over the group; the
// per-position variant averages exp of the closed form over each future position's R), with the
// llama3 frequencies per transformers' _compute_llama3_parameters
const NUMPY_REFERENCE = `
import sys, json, math
import numpy as np
from scipy.stats import spearmanr
from scipy.special import logsumexp
group, future, theta, scaling, keep = sys.argv[1:]
group, future, theta, scaling, keep = int(group), float(future), float(theta), json.loads(scaling), json.loads(keep)
def unit(path, layer, head):
  z = np.load(path, allow_pickle=False)
  Q = z['queries'][layer].astype(np.float64)
  K = z['keys'][layer].astype(np.float64)
  pos = z['positions'].astype(np.float64)
  nq, T, d = Q.shape
  nF = max(1, int(math.floor(future * T + 0.5)))
  nS = T - nF
  keys = K[head, :nS]
  inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
  if scaling:
      f, lo, hi, old = scaling['factor'], scaling['low_freq_factor'], scaling['high_freq_factor'], scaling['original_max_position_embeddings']
      wl = 2 * math.pi / inv
      smooth = (old / wl - lo) / (hi - lo)
      scaled = np.where(wl > old / lo, inv / f, inv)
      mid = (wl <= old / lo) & (wl >= old / hi)
      inv = np.where(mid, (1 - smooth) * inv / f + smooth * inv, scaled)
  P = np.zeros((d, d)); P[d // 2:, :d // 2] = np.eye(d // 2); P[:d // 2, d // 2:] = -np.eye(d // 2)
  def R(p):
      ang = p * np.concatenate([inv, inv])
      return np.cos(ang)[None, :] * np.eye(d) + np.sin(ang)[None, :] * P
  Rs = np.stack([R(p) for p in pos[nS:]])
  Rbar = Rs.mean(0)
  def softmax(x):
      e = np.exp(x - x.max()); return e / e.sum()
  truth = np.zeros(nS); gauss = np.zeros(nS); emp = np.zeros(nS); perpos = np.zeros(nS)
  for h in range(head * group, head * group + group):
      seen, fut = Q[h, :nS], Q[h, nS:]
      qf = np.einsum('fij,fj->fi', Rs, fut)
      truth += softmax(logsumexp(qf @ keys.T / math.sqrt(d), axis=0)) / group
      mu0 = seen.mean(0); c = seen - mu0; cov0 = c.T @ c / nS
      def closed(Rm):
          mu = mu0 @ Rm.T; cov = Rm @ cov0 @ Rm.T
          return keys @ mu / math.sqrt(d) + np.einsum('ni,ij,nj->n', keys, cov, keys) / d / 2
      gauss += softmax(closed(Rbar)) / group
      perpos += softmax(logsumexp(np.stack([closed(Rp) for Rp in Rs]), axis=0)) / group
      qe = np.einsum('fij,sj->fsi', Rs, seen).reshape(-1, d)
      emp += softmax(logsumexp(qe @ keys.T / math.sqrt(d), axis=0)) / group
  def top(x, m):
      return set(np.argsort(-x, kind='stable')[:m].tolist())
  out = {'rho_gaussian': spearmanr(truth, gauss).correlation, 'rho_empirical': spearmanr(truth, emp).correlation,
         'rho_gaussian_perpos': spearmanr(truth, perpos).correlation}
  for f in keep:
      m = max(1, min(nS, int(math.floor(f * nS + 0.5))))
      for name, pred in (('gaussian', gauss), ('empirical', emp)):
          out['recall_%s@%s' % (name, f)] = len(top(truth, m) & top(pred, m)) / m
          out['mass_%s@%s' % (name, f)] = truth[list(top(pred, m))].sum() / truth.sum()
  return out
print(json.dumps([unit(u['path'], u['layer'], u['head']) for u in json.load(sys.stdin)]))
`;

function parseCsv(text: string): Array<Record<string, string>> {
  const [header, ...lines] = text.trim().split('\n');
  const cols = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

describe('poc fidelity end to end on a tiny-model corpus', () => {
  it('writes the contract csv (one row per layer x kv head x prompt), the report and its figures', () => {
    expect(result.unitsCsv).toBe(defaultUnitsPath(result.report));
    const text = readFileSync(result.unitsCsv, 'utf8');
    const header = text.split('\n')[0]!.split(',');
    const contract = ['task', 'prompt_idx', 'layer', 'head', 'best_k', 'rho_gaussian', 'rho_mixture', 'rho_empirical',
      ...KEEP.flatMap((f) => [`recall_gaussian@${f}`, `recall_mixture@${f}`, `recall_empirical@${f}`])];
    expect(header).toEqual(expect.arrayContaining(contract));
    const rows = parseCsv(text);
    expect(rows).toHaveLength(2 * TINY_DEFAULTS.layers * TINY_DEFAULTS.kvHeads);
    for (const r of rows) {
      expect(r.status).toBe('ok');
      for (const m of ['gaussian', 'mixture', 'empirical']) {
        const rho = Number(r[`rho_${m}`]);
        expect(rho).toBeGreaterThanOrEqual(-1);
        expect(rho).toBeLessThanOrEqual(1);
        // kept mass can never beat keeping the true top keys
        for (const f of KEEP) expect(Number(r[`rankmass_${m}@${f}`])).toBeLessThanOrEqual(Number(r[`rankmass_oracle@${f}`]) + 1e-12);
      }
      expect(Number(r.best_k)).toBeGreaterThanOrEqual(1);
      expect(Number(r.best_k)).toBeLessThanOrEqual(3);
    }
    const report = readFileSync(result.report, 'utf8');
    expect(report).toMatch(/\| all \| 8 \|/);
    expect(report).toContain('layer 1');
    expect(result.figures).toHaveLength(3);
    for (const f of result.figures) expect(readFileSync(f, 'utf8')).toMatch(/^<svg/);
  });

  it('truth, Gaussian and empirical metrics of every unit equal a numpy/scipy reference', async () => {
    requirePython(['numpy', 'scipy']);
    const meta = (await readCorpusMeta(join(root, 'corpus')))!;
    const group = meta.model!.num_attention_heads! / meta.model!.num_key_value_heads!;
    const units = result.rows.map((r) => ({ path: join(root, 'corpus', `prompt_${r.task}__p${r.promptIdx}.npz`), layer: r.layer, head: r.head }));
    const refs = JSON.parse(runPython(NUMPY_REFERENCE, [
      String(group), '0.2', String(meta.model!.rope_theta), JSON.stringify(meta.model!.rope_scaling ?? null), JSON.stringify(KEEP),
    ], { input: JSON.stringify(units) })) as Array<Record<string, number>>;
    expect(refs).toHaveLength(result.rows.length);
    result.rows.forEach((r, u) => {
      const ref = refs[u]!;
      expect(r.rho.gaussian).toBeCloseTo(ref.rho_gaussian!, 9);
      expect(r.rho.empirical).toBeCloseTo(ref.rho_empirical!, 9);
      expect(r.rho.gaussian_perpos).toBeCloseTo(ref.rho_gaussian_perpos!, 9);
      KEEP.forEach((f, i) => {
        expect(r.recall.gaussian[i]).toBeCloseTo(ref[`recall_gaussian@${f}`]!, 12);
        expect(r.recall.empirical[i]).toBeCloseTo(ref[`recall_empirical@${f}`]!, 12);
        expect(r.keptMass.gaussian[i]).toBeCloseTo(ref[`mass_gaussian@${f}`]!, 9);
        expect(r.keptMass.empirical[i]).toBeCloseTo(ref[`mass_empirical@${f}`]!, 9);
      });
    });
  }, 120_000);

  it('an interrupted run resumes from its csv (a cut last line dropped) and ends with the same rows as one run', async () => {
    const out = join(root, 'resume', 'fidelity.md');
    const opts = { corpus: join(root, 'corpus'), out, kMax: 3, future: 0.2, keep: KEEP, progressStream: null, kernel: { backend: 'js' as const }, press: false };
    const first = await runFidelity({ ...opts, maxUnits: 3 });
    expect(first.rows).toHaveLength(3);
    // a kill in the middle of writing the 4th line
    await appendFile(first.unitsCsv, 'vt,0,1,1,2,0.5');
    const second = await runFidelity(opts);
    expect(second.unitsResumed).toBe(3);
    expect(second.rows).toHaveLength(result.rows.length);
    const lines = readFileSync(second.unitsCsv, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1 + result.rows.length);
    const byKey = new Map(second.rows.map((r) => [`${r.task}/${r.promptIdx}/${r.layer}/${r.head}`, r]));
    for (const r of result.rows) {
      const again = byKey.get(`${r.task}/${r.promptIdx}/${r.layer}/${r.head}`)!;
      expect(again.bestK).toBe(r.bestK);
      for (const m of ['gaussian', 'mixture', 'empirical', 'gaussian_perpos', 'mixture_perpos'] as const) {
        expect(again.rho[m]).toBeCloseTo(r.rho[m], 8);
        KEEP.forEach((_, i) => expect(again.recall[m][i]).toBeCloseTo(r.recall[m][i]!, 8));
      }
    }
    // other settings start the csv afresh
    const third = await runFidelity({ ...opts, future: 0.25, maxUnits: 1 });
    expect(third.unitsResumed).toBe(0);
    expect(readFileSync(third.unitsCsv, 'utf8').trim().split('\n')).toHaveLength(2);
  }, 120_000);

  it('a truncated file is skipped and listed; the other files are scored', async () => {
    const dir = join(root, 'partly-bad');
    await cp(join(root, 'corpus'), dir, { recursive: true });
    const victim = join(dir, 'prompt_vt__p0.npz');
    await truncate(victim, 1000);
    const r = await runFidelity({ corpus: dir, out: join(root, 'pb', 'f.md'), kMax: 2, future: 0.2, keep: KEEP, progressStream: null, press: false });
    expect(r.skippedFiles.map((f) => f.path)).toEqual([victim]);
    expect(r.rows.every((row) => row.task === 'niah_single_1')).toBe(true);
    expect(readFileSync(r.report, 'utf8')).toContain('## Files skipped');
  }, 60_000);

  it('a corpus without meta.json is refused with a pointer to capture', async () => {
    const dir = join(root, 'no-meta');
    await cp(join(root, 'corpus'), dir, { recursive: true });
    await rm(join(dir, 'meta.json'));
    await expect(runFidelity({ corpus: dir, out: join(root, 'nm', 'f.md'), kMax: 2, future: 0.2, keep: KEEP, progressStream: null }))
      .rejects.toThrow(/num_key_value_heads.*--with-keys/);
  });

  it('a corpus captured without --with-keys exits 1 with one line naming the flag', async () => {
    const noKeys = join(root, 'nokeys');
    await capture(noKeys, false);
    await expect(runFidelity({ corpus: noKeys, out: join(root, 'nk', 'f.md'), kMax: 2, future: 0.2, keep: KEEP, progressStream: null }))
      .rejects.toThrow(UserError);
    const cli = spawnSync(process.execPath, [BIN, 'fidelity', '--corpus', noKeys, '--out', join(root, 'nk', 'f.md')], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toContain('--with-keys');
    expect(existsSync(join(root, 'nk', 'f.md'))).toBe(false);
    expect(existsSync(defaultUnitsPath(join(root, 'nk', 'f.md')))).toBe(false);
  }, 60_000);
});
