import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedPowerTable, powerTablePath } from '../../src/analyze/ks-power-cache.js';
import { KS_POWER_VERSION, ksPowerTable } from '../../src/analyze/ks-power.js';

const SMALL = { nTrain: 240, nTest: 80, d: 6, alpha: 0.05, draws: 4, seed: 3 };

describe('KS power table cache', () => {
  it('simulates once, then serves the same rows from the poc cache; any parameter or the version makes another entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-power-'));
    try {
      const direct = await ksPowerTable(SMALL.nTrain, SMALL.nTest, SMALL.d, SMALL.alpha, SMALL.draws, SMALL.seed);
      const first = await cachedPowerTable(SMALL, { cacheDir: dir });
      expect(first.cached).toBe(false);
      expect(first.rows).toEqual(direct);
      const path = powerTablePath(SMALL, dir);
      expect(existsSync(path)).toBe(true);
      expect(path).toContain(`v${KS_POWER_VERSION}-`);
      const second = await cachedPowerTable(SMALL, { cacheDir: dir });
      expect(second).toEqual({ rows: direct, cached: true, from: 'cache' });
      // no temporary file is left beside the entry
      expect(readdirSync(join(dir, 'ks-power'))).toEqual([path.split('/').pop()]);
      for (const change of [{ nTrain: 241 }, { nTest: 81 }, { d: 5 }, { alpha: 0.01 }, { draws: 3 }, { seed: 4 }]) {
        const other = { ...SMALL, ...change };
        expect(powerTablePath(other, dir)).not.toBe(path);
        expect((await cachedPowerTable(other, { cacheDir: dir })).cached).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recomputes over a corrupt or mismatched entry, and still answers when the cache cannot be written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poc-power-'));
    try {
      const good = await cachedPowerTable(SMALL, { cacheDir: dir });
      const path = powerTablePath(SMALL, dir);
      writeFileSync(path, '{"version": 1, "rows": [');
      const again = await cachedPowerTable(SMALL, { cacheDir: dir });
      expect(again).toEqual({ rows: good.rows, cached: false, from: 'simulated' });
      // an entry whose recorded parameters differ from its name is not trusted
      writeFileSync(path, JSON.stringify({ version: KS_POWER_VERSION, ...SMALL, seed: 99, rows: good.rows }));
      expect((await cachedPowerTable(SMALL, { cacheDir: dir })).cached).toBe(false);
      expect((await cachedPowerTable(SMALL, { cacheDir: dir })).cached).toBe(true);
      const readOnly = join(dir, 'ro');
      writeFileSync(readOnly, 'a file where the cache folder should be');
      const uncached = await cachedPowerTable(SMALL, { cacheDir: readOnly });
      expect(uncached).toEqual({ rows: good.rows, cached: false, from: 'simulated' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
