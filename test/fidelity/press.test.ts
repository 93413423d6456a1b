import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFidelity, type FidelityRunResult } from '../../src/fidelity/run.js';
import { SCORERS, type Scorer } from '../../src/fidelity/press-scorers.js';
import { defaultUnitsPath } from '../../src/analyze/run.js';
import { UserError } from '../../src/errors.js';
import { quantile } from '../../src/report/aggregate.js';
import { requirePython, runPython } from '../helpers/python.js';
import { PRESS_DIMS, writePressCorpus } from './press-fixture.js';
import { NUMPY_PRESS } from './numpy-press.js';

/**
 * The press simulation of `poc fidelity` on a corpus written here (press-fixture.ts):
 * kvpress's scorers against a numpy re-implementation written from the formulas, the
 * planted units whose answer is known, the report, and the refusals.
 */

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const RATIOS = [0.25, 0.5, 0.75, 0.9];
const KEEP = [0.1, 0.5];
const PROMPTS = 3;
let root: string;
let result: FidelityRunResult;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-press-'));
  await writePressCorpus(join(root, 'corpus'), PROMPTS);
  // float64 products, so the comparison with numpy is exact up to rounding
  result = await runFidelity({
    corpus: join(root, 'corpus'), out: join(root, 'out', 'fidelity.md'), kMax: 3, future: 0.2, keep: KEEP, ratios: RATIOS,
    progressStream: null, threads: 1, kernel: { precision: 'float64' }, pressKeptSets: true,
  });
}, 600_000);
afterAll(async () => { await rm(root, { recursive: true, force: true }); });


const planted = () => result.rows.filter((r) => r.layer === 0);
const medianErr = (rows: typeof result.rows, s: Scorer, i: number) => quantile(rows.map((r) => r.press!.err[s][i]!), 0.5);

describe('poc fidelity: the press simulation', () => {
  it('writes err_ and mass_ for every scorer and ratio beside the contract columns', () => {
    const header = readFileSync(result.unitsCsv, 'utf8').split('\n')[0]!.split(',');
    const contract = ['task', 'prompt_idx', 'layer', 'head', 'best_k', 'rho_gaussian', 'rho_mixture', 'rho_empirical',
      ...KEEP.flatMap((f) => [`recall_gaussian@${f}`, `recall_mixture@${f}`, `recall_empirical@${f}`]),
      ...RATIOS.flatMap((r) => SCORERS.flatMap((s) => [`err_${s}@${r}`, `mass_${s}@${r}`]))];
    expect(header).toEqual(expect.arrayContaining(contract));
    expect(new Set(header).size).toBe(header.length);
    expect(result.rows).toHaveLength(PROMPTS * PRESS_DIMS.layers * PRESS_DIMS.kvHeads);
    for (const r of result.rows) {
      expect(r.status).toBe('ok');
      for (const s of SCORERS) {
        r.press!.mass[s].forEach((m) => { expect(m).toBeGreaterThan(0); expect(m).toBeLessThanOrEqual(1 + 1e-12); });
        r.press!.err[s].forEach((e) => expect(e).toBeGreaterThanOrEqual(0));
        // fewer keys kept, less mass kept: the kept sets of one score are nested
        for (let i = 1; i < RATIOS.length; i++) expect(r.press!.mass[s][i]).toBeLessThanOrEqual(r.press!.mass[s][i - 1]! + 1e-12);
      }
    }
  });

  it('expected_attention, expected_attention_novnorm and oracle: the same kept sets and errors as numpy within 1e-6', () => {
    requirePython(['numpy']);
    const units = result.rows.map((r) => ({ path: join(root, 'corpus', `prompt_${r.task}__p${r.promptIdx}.npz`), layer: r.layer, head: r.head }));
    const refs = JSON.parse(runPython(NUMPY_PRESS, [String(PRESS_DIMS.group), String(PRESS_DIMS.theta), JSON.stringify(RATIOS)], { input: JSON.stringify(units) })) as Array<Record<string, number & number[]>>;
    result.rows.forEach((r, u) => {
      for (const s of ['expected_attention', 'expected_attention_novnorm', 'oracle'] as const) {
        RATIOS.forEach((ratio, i) => {
          expect([...r.press!.kept![s]![i]!].sort((a, b) => a - b)).toEqual(refs[u]![`kept_${s}@${ratio}`]);
          expect(Math.abs(r.press!.err[s][i]! - refs[u]![`err_${s}@${ratio}`]!)).toBeLessThan(1e-6);
          expect(Math.abs(r.press!.mass[s][i]! - refs[u]![`mass_${s}@${ratio}`]!)).toBeLessThan(1e-6);
        });
      }
    });
  }, 120_000);

  it('planted: where one Gaussian overrates keys, the mixture keeps the honest ones and beats it', () => {
    const units = planted();
    expect(units.length).toBe(PROMPTS * PRESS_DIMS.kvHeads);
    for (const r of units) {
      expect(r.bestK).toBeGreaterThanOrEqual(2);
      // 0.75 and 0.9: the budget is too small for all the overrated and honest keys
      for (const i of [2, 3]) {
        expect(r.press!.mass.expected_attention_mixture[i]).toBeGreaterThan(r.press!.mass.expected_attention[i]!);
      }
      expect(r.press!.err.expected_attention_mixture[3]).toBeLessThan(r.press!.err.expected_attention[3]!);
    }
    for (const i of [2, 3]) expect(medianErr(units, 'expected_attention_mixture', i)).toBeLessThan(0.9 * medianErr(units, 'expected_attention', i));
    // the noise layer has K = 1: there the mixture is kvpress's Gaussian, bit for bit
    for (const r of result.rows.filter((x) => x.bestK === 1)) expect(r.press!.err.expected_attention_mixture).toEqual(r.press!.err.expected_attention);
  });

  it('planted: the oracle is the best and random the worst press in the median', () => {
    const units = planted();
    RATIOS.forEach((_, i) => {
      const oracle = medianErr(units, 'oracle', i);
      const random = medianErr(units, 'random', i);
      for (const s of SCORERS) {
        // the oracle ranks by attention x |v|, which bounds the error of what is dropped but does not
        // minimise the renormalised error exactly: presses keeping the same attention-bearing keys tie within a few %
        expect(oracle).toBeLessThanOrEqual(1.05 * medianErr(units, s, i));
        if (s !== 'random') expect(random).toBeGreaterThan(medianErr(units, s, i));
        // values have one norm here, so the oracle keeps the most mass (float16 norms: within 1e-3)
        for (const r of units) expect(r.press!.mass.oracle[i]).toBeGreaterThanOrEqual(r.press!.mass[s][i]! - 1e-3);
      }
    });
  });

  it('reports the headline, the K split, the value-norm finding and the figures', () => {
    const report = readFileSync(result.report, 'utf8');
    const p = result.summary.press!;
    expect(p.headlineRatio).toBe(0.5);
    expect(report).toMatch(/At 50 % compression the mixture's median output error is [\d.e-]+ against kvpress's [\d.e-]+; better in \d+ % of units/);
    expect(report).toContain('BIC-best K = 1');
    expect(report).toContain('BIC-best K > 1');
    expect(report).toContain('Did the value norms help?');
    expect(report).toMatch(/SnapKV.*proxy/s);
    // the headline numbers are the units' medians
    const all = result.rows;
    expect(p.mixture[0]!.medianA).toBeCloseTo(medianErr(all, 'expected_attention_mixture', 1), 12);
    expect(p.mixture[0]!.medianB).toBeCloseTo(medianErr(all, 'expected_attention', 1), 12);
    expect(p.byK.map((g) => g.units)).toEqual([all.filter((r) => r.bestK === 1).length, all.filter((r) => r.bestK > 1).length]);
    const names = result.figures.map((f) => f.split('.').slice(-2, -1)[0]);
    expect(names).toEqual(expect.arrayContaining(['press-error-by-layer', 'press-error-by-k']));
    for (const f of result.figures) expect(readFileSync(f, 'utf8')).toMatch(/^<svg/);
  });

  it('a resumed run parses the press columns back', async () => {
    const again = await runFidelity({
      corpus: join(root, 'corpus'), out: join(root, 'out', 'fidelity.md'), kMax: 3, future: 0.2, keep: KEEP, ratios: RATIOS, progressStream: null, threads: 1,
    });
    expect(again.unitsResumed).toBe(result.rows.length);
    const byKey = new Map(again.rows.map((r) => [`${r.promptIdx}/${r.layer}/${r.head}`, r]));
    for (const r of result.rows) {
      const back = byKey.get(`${r.promptIdx}/${r.layer}/${r.head}`)!;
      for (const s of SCORERS) RATIOS.forEach((_, i) => expect(back.press!.err[s][i]).toBeCloseTo(r.press!.err[s][i]!, 8));
    }
  });
});

describe('poc fidelity on worker threads', () => {
  it('the CLI with --threads 2 (compiled workers) writes the same numbers as one thread in-process', async () => {
    const dir = join(root, 'one-prompt');
    await writePressCorpus(dir, 1);
    const inThread = await runFidelity({ corpus: dir, out: join(root, 'w1', 'f.md'), kMax: 3, future: 0.2, keep: KEEP, progressStream: null, threads: 1 });
    expect(inThread.workerThreads).toBe(0);
    const out = join(root, 'w2', 'f.md');
    const cli = spawnSync(process.execPath, [BIN, 'fidelity', '--corpus', dir, '--out', out, '--k-max', '3', '--keep', KEEP.join(','), '--threads', '2'], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/on 2 thread\(s\)/);
    // every column but the timing, row by row (workers finish in any order)
    const rowsOf = (path: string) => {
      const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
      const cols = header!.split(',');
      const drop = new Set([cols.indexOf('seconds')]);
      return new Map(lines.map((l) => {
        const f = l.split(',');
        return [f.slice(0, 4).join('/'), f.filter((_, i) => !drop.has(i)).join(',')];
      }));
    };
    const a = rowsOf(inThread.unitsCsv), b = rowsOf(defaultUnitsPath(out));
    expect(b.size).toBe(PRESS_DIMS.layers * PRESS_DIMS.kvHeads);
    expect(b).toEqual(a);
  }, 300_000);
});

describe('poc fidelity without values', () => {
  it('exits 1 with one line naming --with-values; nothing written', async () => {
    const dir = join(root, 'novalues');
    await writePressCorpus(dir, 1, false);
    const out = join(root, 'nv', 'f.md');
    await expect(runFidelity({ corpus: dir, out, kMax: 2, future: 0.2, keep: KEEP, progressStream: null })).rejects.toThrow(UserError);
    const cli = spawnSync(process.execPath, [BIN, 'fidelity', '--corpus', dir, '--out', out], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toContain('--with-values');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(defaultUnitsPath(out))).toBe(false);
  }, 60_000);

  it('--no-press runs the ranking on keys alone: contract columns, no press columns', async () => {
    const dir = join(root, 'novalues');
    const out = join(root, 'np', 'f.md');
    const cli = spawnSync(process.execPath, [BIN, 'fidelity', '--corpus', dir, '--out', out, '--no-press', '--k-max', '2', '--threads', '1'], { encoding: 'utf8' });
    expect(cli.stderr).toMatch(/scored 4 unit/);
    expect(cli.status).toBe(0);
    const header = readFileSync(defaultUnitsPath(out), 'utf8').split('\n')[0]!.split(',');
    expect(header).toEqual(expect.arrayContaining(['rho_gaussian', 'rho_mixture', 'rho_empirical', 'recall_gaussian@0.1']));
    expect(header.some((c) => c.startsWith('err_') || c.startsWith('mass_'))).toBe(false);
    expect(readFileSync(out, 'utf8')).not.toContain('## The press');
  }, 120_000);
});
