import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pocCacheDir } from '../util/cache-dir.js';
import { tempSuffix } from '../util/temp-name.js';
import { KS_POWER_VERSION, ksPowerTable, type PowerParams, type PowerRow } from './ks-power.js';

/**
 * The KS power table depends only on its parameters (sample sizes, d, alpha, draws, seed) and
 * KS_POWER_VERSION, but costs seconds to simulate (100 planted fits at 4096 x 128): it is
 * computed once and kept under the poc cache, one JSON file per parameter set.
 */

/** Where the table for `p` is kept (the name spells out every parameter and the version). */
export function powerTablePath(p: PowerParams, cacheDir = pocCacheDir()): string {
  return join(cacheDir, 'ks-power', `v${KS_POWER_VERSION}-n${p.nTrain}-m${p.nTest}-d${p.d}-a${p.alpha}-r${p.draws}-s${p.seed}.json`);
}

/** The table from the cache, or simulated and then cached; `cached` says which. */
export async function cachedPowerTable(p: PowerParams, opts: { cacheDir?: string; threads?: number } = {}): Promise<{ rows: PowerRow[]; cached: boolean }> {
  const hit = readPowerTable(p, opts.cacheDir);
  if (hit) return { rows: hit, cached: true };
  const rows = await ksPowerTable(p.nTrain, p.nTest, p.d, p.alpha, p.draws, p.seed, opts.threads);
  storePowerTable(p, rows, opts.cacheDir);
  return { rows, cached: false };
}

/** The cached table for `p`, if there is one. */
export function readPowerTable(p: PowerParams, cacheDir?: string): PowerRow[] | undefined {
  return readTable(powerTablePath(p, cacheDir), p);
}

/** Keeps a table simulated elsewhere (e.g. on analyze's worker pool) for `p`. */
export function storePowerTable(p: PowerParams, rows: PowerRow[], cacheDir?: string): void {
  writeTable(powerTablePath(p, cacheDir), p, rows);
}

interface TableFile extends PowerParams {
  version: number;
  rows: PowerRow[];
}

/** A cached table that matches `p` exactly, else undefined (missing, unreadable, other parameters or version). */
function readTable(path: string, p: PowerParams): PowerRow[] | undefined {
  let file: TableFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as TableFile;
  } catch {
    return undefined;
  }
  const same = file.version === KS_POWER_VERSION && (Object.keys(p) as Array<keyof PowerParams>).every((k) => file[k] === p[k]);
  const wellFormed = Array.isArray(file.rows) && file.rows.length > 0 &&
    file.rows.every((r) => typeof r.scenario === 'string' && Number.isFinite(r.pct) && (r.kind === 'pass' || r.kind === 'reject') && r.draws === p.draws);
  return same && wellFormed ? file.rows : undefined;
}

/** Writes under a temporary name and renames, so a reader never sees half a file; a cache that cannot be written is skipped. */
function writeTable(path: string, p: PowerParams, rows: PowerRow[]): void {
  const tmp = `${path}.partial-${tempSuffix()}`;
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    const file: TableFile = { version: KS_POWER_VERSION, ...p, rows };
    writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
    renameSync(tmp, path);
  } catch {
    // a read-only or full cache costs the next run the simulation again, nothing more
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written where nothing can be
    }
  }
}
