import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync, existsSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { runAnalysis, type AnalyzeOptions } from '../../src/analyze/run.js';
import { runMerge } from '../../src/analyze/merge.js';
import { readUnitsCsv, unitId } from '../../src/analyze/units-csv.js';
import { aggregate } from '../../src/report/aggregate.js';
import type { UnitResult } from '../../src/analyze/unit.js';
import { UserError } from '../../src/errors.js';
import { LAYER_TRUTH, SYN_DIMS, writeSyntheticCorpus } from './synthetic-corpus.js';

const TASKS = { niah_a: [0, 1], qa_b: [0, 1] };
const N_UNITS = 4 * LAYER_TRUTH.length * SYN_DIMS.nKvHeads; // prompts x layers x kv heads
let root: string;
let corpus: string;
let single: UnitResult[];
let savedCache: string | undefined;

function opts(over: Partial<AnalyzeOptions>): AnalyzeOptions {
  return {
    corpus, out: join(root, 'single', 'report.md'), kMax: 4, covariance: 'full', granularity: 'kv', holdout: 0.2,
    alpha: 0.05, seed: 0, threads: 1, progressStream: null, powerDraws: 0, ...over,
  };
}

/** Rows keyed by unit, without the timing column, for comparing runs. */
function byUnit(rows: UnitResult[]): Map<string, Omit<UnitResult, 'seconds'>> {
  return new Map(rows.map((r) => { const { seconds: _s, ...rest } = r; void _s; return [unitId(r), rest]; }));
}

beforeAll(async () => {
  root = mkdtempSync(join(os.tmpdir(), 'poc-analyze-'));
  // the report's KS power table is cached there: keep it out of the user's cache
  savedCache = process.env.POC_CACHE;
  process.env.POC_CACHE = join(root, 'poc-cache');
  corpus = join(root, 'corpus');
  mkdirSync(corpus);
  await writeSyntheticCorpus(corpus, TASKS);
  const r = await runAnalysis(opts({ powerDraws: 2 }));
  single = readUnitsCsv(r.unitsCsv);
});

afterAll(() => {
  if (savedCache === undefined) delete process.env.POC_CACHE;
  else process.env.POC_CACHE = savedCache;
  rmSync(root, { recursive: true, force: true });
});

describe('analyze on a planted corpus', () => {
  it('writes one row per (layer, kv head, prompt) with the contract columns, and a report with figures', () => {
    const header = readFileSync(join(root, 'single', 'report.md.units.csv'), 'utf8').split('\n')[0]!.split(',');
    expect(header).toEqual(expect.arrayContaining(['task', 'prompt_idx', 'layer', 'head', 'n_train', 'n_test', 'best_k', 'delta_bic_k1',
      'ks_stat', 'ks_p', 'ks_pass', 'll_test_k1', 'll_test_gmm', 'll_test_kde', 'll_test_t']));
    expect(single.length).toBe(N_UNITS);
    expect(single.every((r) => r.status === 'ok')).toBe(true);
    // 2 q heads x 200 positions, 20 % held out per q head
    expect(single.every((r) => r.nTrain === 320 && r.nTest === 80)).toBe(true);
    const md = readFileSync(join(root, 'single', 'report.md'), 'utf8');
    for (const fig of ['kstar-heatmap', 'bestk-hist', 'delta-bic', 'pit-hist']) {
      expect(md).toContain(`(report.${fig}.svg)`);
      expect(readFileSync(join(root, 'single', `report.${fig}.svg`), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    }
    expect(md).toMatch(/\| units rejecting K=1 \(ΔBIC > 10\) \| 66\.7 % \| 98 % \|/);
  });

  it('recovers the planted truth per unit', () => {
    for (const r of single) {
      const truth = LAYER_TRUTH[r.layer]!;
      if (truth === 'gaussian') {
        expect(r.bestK).toBe(1);
        expect(r.deltaBicK1).toBe(0);
        expect(r.nModes).toBe(1);
      } else if (truth === 'clusters3') {
        expect(r.bestK).toBe(3);
        expect(r.deltaBicK1).toBeGreaterThan(10);
        expect(r.nModes).toBe(3);
        expect(r.llTestGmm).toBeGreaterThan(r.llTestK1);
      } else {
        // heavy tails: BIC wants > 1 component, but the unimodal t wins on BIC and held-out likelihood
        expect(r.bicT).toBeLessThan(r.bicBest);
        expect(r.llTestT).toBeGreaterThan(r.llTestGmm);
        expect(r.nModes).toBe(1);
      }
    }
    // well-specified fits pass the KS test (Gaussian at K=1, clusters at K=3)
    const wellSpecified = single.filter((r) => LAYER_TRUTH[r.layer] !== 'student3');
    expect(wellSpecified.filter((r) => r.ksPass).length).toBeGreaterThanOrEqual(wellSpecified.length - 1);
  });

  it('aggregates match the planted units', () => {
    const agg = aggregate(single, 50);
    // two of three layers are non-Gaussian
    expect(agg.summary.pctRejectK1).toBeCloseTo((100 * 2) / 3, 10);
    expect(agg.summary.pctTBeatsGmmBic).toBeCloseTo(100 / 3, 10);
    expect(agg.modes.pctFewerModesThanK).toBeCloseTo(100 / 3, 10); // exactly the t units (K* > 1, one mode)
    // K* depends on the layer only, so it is stable across prompts — and the within-layer null says that is all it is
    expect(agg.stability!.splitHalfRho).toBeGreaterThan(0.9);
    expect(agg.stability!.splitHalfNull.median).toBeGreaterThan(0.9);
  });

  it('puts the verdict at the top of report.md, matching the planted layers (Gaussian, clusters, Student-t)', () => {
    const md = readFileSync(join(root, 'single', 'report.md'), 'utf8');
    const verdict = md.split('## Headline')[0]!.split('\n').filter((l) => l.startsWith('- ')).join('\n');
    expect(md.indexOf('## Verdict')).toBeLessThan(md.indexOf('## Headline'));
    // two of three layers reject one Gaussian; of those, the Student-t layer is explained (t wins BIC, one mode), the clusters are not
    expect(verdict).toContain(`Most units reject one Gaussian: ${(2 * N_UNITS) / 3} of ${N_UNITS} (66.7 %) prefer a mixture by ΔBIC > 10`);
    expect(verdict).toMatch(/The controls explain most of it: of the \d+ units that reject one Gaussian, \d+ \(50\.0 %\) are better described by one Student-t/);
    expect(verdict).toMatch(/leaving \d+ \(50\.0 %\) with two or more modes/);
  });

  it('fails the KS test for a misspecified fit (K = 1 forced on three clusters)', async () => {
    const r = await runAnalysis(opts({ kMax: 1, out: join(root, 'k1', 'report.md') }));
    const rows = readUnitsCsv(r.unitsCsv);
    const clusters = rows.filter((x) => LAYER_TRUTH[x.layer] === 'clusters3');
    expect(clusters.every((x) => !x.ksPass)).toBe(true);
    const gaussian = rows.filter((x) => LAYER_TRUTH[x.layer] === 'gaussian');
    expect(gaussian.filter((x) => x.ksPass).length).toBeGreaterThanOrEqual(gaussian.length - 1);
  });

  it('shards + merge give the same rows and report numbers as a single run', async () => {
    const csvs: string[] = [];
    for (const index of [0, 1, 2]) {
      const r = await runAnalysis(opts({ shard: { index, count: 3 }, out: join(root, `shard${index}`, 'report.md') }));
      expect(r.unitsPlanned).toBe(N_UNITS / 3);
      csvs.push(r.unitsCsv);
    }
    const merged = await runMerge({ out: join(root, 'merged', 'report.md'), shards: csvs, powerDraws: 0 });
    expect(readFileSync(join(root, 'merged', 'report.md'), 'utf8')).toContain('kMax = 4');
    // a shard from a run with other settings cannot join the report
    const alien = join(root, 'alien.units.csv');
    copyFileSync(csvs[0]!, alien);
    writeFileSync(`${alien}.settings.json`, readFileSync(`${csvs[0]!}.settings.json`, 'utf8').replace('"seed": 0', '"seed": 1'));
    await expect(runMerge({ out: join(root, 'm2', 'r.md'), shards: [csvs[1]!, alien], powerDraws: 0 })).rejects.toThrow(/different settings/);
    expect(merged.units).toBe(N_UNITS);
    const rows = csvs.flatMap((c) => readUnitsCsv(c));
    expect(byUnit(rows)).toEqual(byUnit(single));
    // merge also writes every unit once into <out>.units.csv, in (task, prompt, layer, head) order, with the shards' settings beside it
    expect(merged.unitsCsv).toBe(join(root, 'merged', 'report.md.units.csv'));
    const mergedRows = readUnitsCsv(merged.unitsCsv);
    expect(byUnit(mergedRows)).toEqual(byUnit(single));
    expect(readFileSync(merged.unitsCsv, 'utf8').trimEnd().split('\n')).toHaveLength(1 + N_UNITS);
    const order = (r: UnitResult) => [r.task, r.promptIdx, r.layer, r.head] as const;
    const sorted = [...mergedRows].sort((a, b) => {
      const x = order(a), y = order(b);
      return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1] || x[2] - y[2] || x[3] - y[3];
    });
    expect(mergedRows.map(unitId)).toEqual(sorted.map(unitId));
    expect(JSON.parse(readFileSync(`${merged.unitsCsv}.settings.json`, 'utf8'))).toEqual(JSON.parse(readFileSync(`${csvs[0]!}.settings.json`, 'utf8')));
    const headline = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('| ') && !l.includes('Settings'));
    // poc merge writes the same verdict as the single run
    const verdictOf = (path: string) => readFileSync(path, 'utf8').split('## Headline')[0]!.split('\n').filter((l) => l.startsWith('- ')).join('\n');
    expect(verdictOf(join(root, 'merged', 'report.md'))).toContain('Most units reject one Gaussian');
    expect(verdictOf(join(root, 'merged', 'report.md'))).toEqual(verdictOf(join(root, 'single', 'report.md')));
    expect(headline(join(root, 'merged', 'report.md'))).toEqual(headline(join(root, 'single', 'report.md')).filter((l) => !l.startsWith('| Gaussian data') && !l.startsWith('| Student-t(') && !l.startsWith('| 3 clusters') && !l.startsWith('| planted')));
  });

  it('resumes after a kill: no duplicates, same results', async () => {
    const out = join(root, 'resume', 'report.md');
    const first = await runAnalysis(opts({ out, maxUnits: 7 }));
    expect(first.unitsAnalysed).toBe(7);
    // a kill in the middle of a write leaves a partial last line
    const csv = first.unitsCsv;
    const lines = readFileSync(csv, 'utf8');
    appendFileSync(csv, lines.split('\n')[3]!.slice(0, 25));
    const second = await runAnalysis(opts({ out }));
    expect(second.unitsSkipped).toBe(7);
    expect(second.unitsAnalysed).toBe(N_UNITS - 7);
    const text = readFileSync(csv, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const dataLines = text.trim().split('\n').slice(1);
    expect(dataLines.length).toBe(N_UNITS);
    expect(byUnit(readUnitsCsv(csv))).toEqual(byUnit(single));
    // a third run has nothing left to do
    const third = await runAnalysis(opts({ out }));
    expect(third.unitsAnalysed).toBe(0);
    expect(readFileSync(csv, 'utf8').trim().split('\n').length).toBe(N_UNITS + 1);
    // resuming with other settings would mix incomparable rows: refused
    await expect(runAnalysis(opts({ out, seed: 1 }))).rejects.toThrow(/other settings \(seed 0 -> 1\)/);
  });

  it('stops at a safe point when aborted: running units are written, the rest resumes later', async () => {
    const out = join(root, 'abort', 'report.md');
    const controller = new AbortController();
    let seen = 0;
    // a terminal stream: redrawn at every unit, so the second write comes with the second unit
    const progressStream = { isTTY: true, write: () => { if (++seen === 2) controller.abort(); return true; } };
    await expect(runAnalysis(opts({ out, signal: controller.signal, progressStream }))).rejects.toThrow(/interrupted after \d+ unit/);
    const partial = readUnitsCsv(join(root, 'abort', 'report.md.units.csv')).length;
    expect(partial).toBeGreaterThanOrEqual(2);
    expect(partial).toBeLessThan(N_UNITS);
    const r = await runAnalysis(opts({ out }));
    expect(r.unitsSkipped + r.unitsAnalysed).toBe(N_UNITS);
    expect(byUnit(readUnitsCsv(r.unitsCsv))).toEqual(byUnit(single));
  });

  it('skips a truncated and a mismatched file, lists them in the report, and analyses the rest', async () => {
    const dir = join(root, 'bad-corpus');
    mkdirSync(dir);
    await writeSyntheticCorpus(dir, { niah_a: [0, 1] });
    mkdirSync(join(root, 'other'));
    await writeSyntheticCorpus(join(root, 'other'), { niah_a: [2] }, { ...SYN_DIMS, headDim: 4 });
    copyFileSync(join(root, 'other', 'prompt_niah_a__p2.npz'), join(dir, 'prompt_niah_a__p2.npz'));
    const truncated = join(dir, 'prompt_niah_a__p1.npz');
    truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
    writeFileSync(join(dir, 'prompt_niah_a__p3.npz'), 'not a zip');
    const r = await runAnalysis(opts({ corpus: dir, out: join(root, 'bad', 'report.md') }));
    expect(r.badFiles.map((b) => b.promptIdx).sort()).toEqual([1, 2, 3]);
    expect(r.unitsAnalysed).toBe(LAYER_TRUTH.length * SYN_DIMS.nKvHeads);
    const md = readFileSync(r.report, 'utf8');
    expect(md).toContain('## Files skipped');
    for (const j of [1, 2, 3]) expect(md).toMatch(new RegExp(`\\| niah_a \\| ${j} \\|`));
  });

  it('exits 1 (UserError) for an empty corpus and for an unknown GQA grouping; --kv-heads supplies it', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(runAnalysis(opts({ corpus: empty, out: join(root, 'e', 'r.md') }))).rejects.toThrow(UserError);
    const noKv = join(root, 'nokv');
    mkdirSync(noKv);
    await writeSyntheticCorpus(noKv, { niah_a: [0] }, SYN_DIMS, false);
    await expect(runAnalysis(opts({ corpus: noKv, out: join(root, 'nk', 'r.md') }))).rejects.toThrow(/--kv-heads/);
    expect(existsSync(join(root, 'nk', 'r.md'))).toBe(false);
    const r = await runAnalysis(opts({ corpus: noKv, kvHeads: 2, granularity: 'q', out: join(root, 'nk', 'r.md') }));
    // --granularity q: one unit per query head, 200 positions each
    const rows = readUnitsCsv(r.unitsCsv);
    expect(rows.length).toBe(LAYER_TRUTH.length * SYN_DIMS.nQHeads);
    expect(rows.every((x) => x.nTrain + x.nTest === SYN_DIMS.tSub)).toBe(true);
  });
});
