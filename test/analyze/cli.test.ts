import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { ksPowerTable } from '../../src/analyze/ks-power.js';
import { join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { LAYER_TRUTH, SYN_DIMS, writeSyntheticCorpus } from './synthetic-corpus.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
let root: string;
// the report's KS power table is cached under POC_CACHE: a folder of this test's own
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, POC_CACHE: join(root, 'cache') } });

beforeAll(async () => {
  root = mkdtempSync(join(os.tmpdir(), 'poc-analyze-cli-'));
  mkdirSync(join(root, 'corpus'));
  await writeSyntheticCorpus(join(root, 'corpus'), { niah_a: [0, 1] });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('poc analyze / poc merge (built CLI, worker threads)', () => {
  it('analyses a corpus on 2 worker threads, reports progress, and merges shards', async () => {
    const out = join(root, 'r', 'report.md');
    const r = run(['analyze', '--corpus', join(root, 'corpus'), '--out', out, '--k-max', '3', '--threads', '2']);
    expect(r.stderr).toMatch(/\d+\/12 units .* s\/unit {2}ETA/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/on 2 thread\(s\)/);
    const csv = readFileSync(join(root, 'r', 'report.md.units.csv'), 'utf8').trim().split('\n');
    expect(csv.length).toBe(1 + 2 * LAYER_TRUTH.length * SYN_DIMS.nKvHeads);
    expect(existsSync(join(root, 'r', 'report.kstar-heatmap.svg'))).toBe(true);
    // the power table was simulated on the worker pool beside the units and cached: the same rows
    // as the simulation in one thread, and the ones the report printed
    const [entry] = readdirSync(join(root, 'cache', 'ks-power'));
    expect(entry).toMatch(/^v\d+-n320-m80-d6-a0\.05-r20-s0\.json$/);
    const cached = JSON.parse(readFileSync(join(root, 'cache', 'ks-power', entry!), 'utf8')) as { rows: unknown };
    expect(cached.rows).toEqual(await ksPowerTable(320, 80, 6, 0.05, 20, 0));
    const reported = readFileSync(out, 'utf8');
    for (const row of cached.rows as Array<{ scenario: string; pct: number }>) expect(reported).toContain(`| ${row.scenario} |`);
    const m = run(['merge', '--out', join(root, 'm', 'merged.md'), join(root, 'r', 'report.md.units.csv')]);
    expect(m.status, m.stderr).toBe(0);
    expect(readFileSync(join(root, 'm', 'merged.md'), 'utf8')).toContain('| units rejecting K=1 (ΔBIC > 10) | 66.7 % | 98 % |');
  });

  it('a re-run after SIGKILL completes the units without duplicates', async () => {
    const out = join(root, 'k', 'report.md');
    const csvPath = join(root, 'k', 'report.md.units.csv');
    const args = [BIN, 'analyze', '--corpus', join(root, 'corpus'), '--out', out, '--k-max', '3', '--threads', '1'];
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const lines = () => (existsSync(csvPath) ? readFileSync(csvPath, 'utf8').split('\n').length - 2 : 0);
    for (let waited = 0; lines() < 3 && waited < 60_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const before = lines();
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThanOrEqual(12); // usually 3 or 4: the kill lands while units are still running
    const again = run(args.slice(1));
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`analysed ${12 - before} unit\\(s\\), ${before} already done, of 12`));
    const rows = readFileSync(csvPath, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 4).join(','));
    expect(rows.length).toBe(12);
    expect(new Set(rows).size).toBe(12);
  });

  it('exits 1 with one line for a folder without corpus files and for a missing shard', () => {
    mkdirSync(join(root, 'empty'));
    const r = run(['analyze', '--corpus', join(root, 'empty'), '--out', join(root, 'x.md')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no corpus files/);
    const m = run(['merge', '--out', join(root, 'y.md'), join(root, 'nope.csv')]);
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/does not exist/);
  });
});
