import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ksPowerTable, type PowerParams } from '../../src/analyze/ks-power.js';
import { cachedPowerTable, powerTableName, readPowerTableFile, shippedPowerTablePath } from '../../src/analyze/ks-power-cache.js';
import { shippedPowerShapes } from '../../src/analyze/ks-power-shipped.js';
import { writeSyntheticCorpus } from './synthetic-corpus.js';

const SHIPPED = shippedPowerShapes();
const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));

function shippedRows(p: PowerParams) {
  const rows = readPowerTableFile(shippedPowerTablePath(p), p);
  if (!rows) throw new Error(`meta/ks-power/${powerTableName(p)} is missing or not this version's: node scripts/make-ks-power-table.mjs`);
  return rows;
}

describe('KS power tables shipped with the package (meta/ks-power/)', () => {
  it('are the shapes analyze asks for on the published corpus and the demo, and nothing else', () => {
    // worked out by hand from the stratified 20 % holdout: each stratum of 1024 rows gives round(204.8) = 205
    // to the test half (Llama-3.1-8B: 32 q heads over 8 kv heads, 4 strata a kv unit); the demo's tiny model
    // has 4 q heads over 2 kv heads of width 64 / 4 = 16, 256 positions: round(51.2) = 51 a stratum
    expect(SHIPPED.map((s) => [s.params.nTrain, s.params.nTest, s.params.d])).toEqual([[3276, 820, 128], [819, 205, 128], [410, 102, 16]]);
    for (const s of SHIPPED) expect(s.params).toMatchObject({ alpha: 0.05, draws: 20, seed: 0 });
    const dir = dirname(shippedPowerTablePath(SHIPPED[0]!.params));
    expect(readdirSync(dir).sort()).toEqual(SHIPPED.map((s) => powerTableName(s.params)).sort());
  });

  // each recomputes the table from scratch (the published kv shape ~6-7 CPU s) and must find the
  // shipped rows exactly: a change to the simulation or the test that alters them fails here until
  // KS_POWER_VERSION is bumped and `node scripts/make-ks-power-table.mjs` makes them again
  for (const { name, params: p } of SHIPPED) {
    it(`equal a fresh simulation: ${name} (${p.nTrain} / ${p.nTest} / d ${p.d})`, async () => {
      const fresh = await ksPowerTable(p.nTrain, p.nTest, p.d, p.alpha, p.draws, p.seed, 1);
      expect(shippedRows(p)).toEqual(fresh);
    }, 600_000);
  }

  it('are served before the poc cache, and nothing is simulated or written for them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-power-shipped-'));
    try {
      for (const { params } of SHIPPED) {
        const got = await cachedPowerTable(params, { cacheDir: dir });
        expect(got).toEqual({ rows: shippedRows(params), cached: true, from: 'shipped' });
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('poc analyze on a demo-shaped corpus (2 worker threads) reports the shipped table and simulates none', async () => {
    const root = mkdtempSync(join(tmpdir(), 'poc-power-demo-shape-'));
    try {
      const demo = SHIPPED.find((s) => s.name.startsWith('poc demo'))!;
      mkdirSync(join(root, 'corpus'));
      await writeSyntheticCorpus(join(root, 'corpus'), { niah_a: [0] }, { nQHeads: 4, nKvHeads: 2, headDim: demo.shape.headDim, tSub: demo.shape.tSub });
      const out = join(root, 'r', 'report.md');
      const r = spawnSync(process.execPath, [BIN, 'analyze', '--corpus', join(root, 'corpus'), '--out', out, '--k-max', '2', '--threads', '2'], {
        encoding: 'utf8', env: { ...process.env, POC_CACHE: join(root, 'cache') },
      });
      expect(r.status, r.stderr).toBe(0);
      // neither the worker pool nor the report simulated (and cached) a table
      expect(existsSync(join(root, 'cache', 'ks-power'))).toBe(false);
      const report = readFileSync(out, 'utf8');
      expect(report).toContain(`(n_train ${demo.params.nTrain}, n_test ${demo.params.nTest}, d ${demo.params.d})`);
      for (const row of shippedRows(demo.params)) {
        expect(report).toContain(`| ${row.scenario} | ${row.kind === 'pass' ? 'passes' : 'rejected'} ${row.pct.toFixed(1)} % | 20 |`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 300_000);
});
