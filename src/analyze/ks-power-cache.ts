import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pocCacheDir } from '../util/cache-dir.js';
import { tempSuffix } from '../util/temp-name.js';
import { KS_POWER_VERSION, ksPowerTable, type PowerParams, type PowerRow } from './ks-power.js';

/**
 * The KS power table depends only on its parameters (sample sizes, d, alpha, draws, seed) and
 * KS_POWER_VERSION, but costs seconds to simulate (100 planted fits at 4096 x 128, ~6 CPU s).
 * The tables of the shapes users meet first (the published corpus, `poc demo`) ship with the
 * package under meta/ks-power/ (scripts/make-ks-power-table.mjs; test/analyze/ks-power-shipped
 * recomputes each from scratch); any other is simulated once and kept under the poc cache,
 * one JSON file per parameter set.
 */

/** The file name of the table for `p`: it spells out every parameter and the version. */
export function powerTableName(p: PowerParams): string {
  return `v${KS_POWER_VERSION}-n${p.nTrain}-m${p.nTest}-d${p.d}-a${p.alpha}-r${p.draws}-s${p.seed}.json`;
}

/** Where the table for `p` is kept in the poc cache. */
export function powerTablePath(p: PowerParams, cacheDir = pocCacheDir()): string {
  return join(cacheDir, 'ks-power', powerTableName(p));
}

/** Where the package would ship the table for `p` (meta/ks-power/, two folders above this module in src/ and dist/ alike). */
export function shippedPowerTablePath(p: PowerParams): string {
  return fileURLToPath(new URL(`../../meta/ks-power/${powerTableName(p)}`, import.meta.url));
}

/** Where a table came from: shipped with the package, the poc cache, or simulated by this call. */
export type PowerTableSource = 'shipped' | 'cache' | 'simulated';

/** The table shipped or cached, else simulated and then cached; `cached` is false only when this call simulated it. */
export async function cachedPowerTable(p: PowerParams, opts: { cacheDir?: string; threads?: number } = {}): Promise<{ rows: PowerRow[]; cached: boolean; from: PowerTableSource }> {
  const hit = findPowerTable(p, opts.cacheDir);
  if (hit) return { rows: hit.rows, cached: true, from: hit.from };
  const rows = await ksPowerTable(p.nTrain, p.nTest, p.d, p.alpha, p.draws, p.seed, opts.threads);
  storePowerTable(p, rows, opts.cacheDir);
  return { rows, cached: false, from: 'simulated' };
}

/** The table for `p` if it ships with the package or is in the poc cache. */
export function readPowerTable(p: PowerParams, cacheDir?: string): PowerRow[] | undefined {
  return findPowerTable(p, cacheDir)?.rows;
}

function findPowerTable(p: PowerParams, cacheDir?: string): { rows: PowerRow[]; from: PowerTableSource } | undefined {
  const shipped = readTable(shippedPowerTablePath(p), p);
  if (shipped) return { rows: shipped, from: 'shipped' };
  const cached = readTable(powerTablePath(p, cacheDir), p);
  return cached ? { rows: cached, from: 'cache' } : undefined;
}

/** Keeps a table simulated elsewhere (e.g. on analyze's worker pool) for `p`. */
export function storePowerTable(p: PowerParams, rows: PowerRow[], cacheDir?: string): void {
  writeTable(powerTablePath(p, cacheDir), p, rows);
}

/** Reads the table file at `path` if it holds `p`'s table (this version, these parameters, well formed). */
export function readPowerTableFile(path: string, p: PowerParams): PowerRow[] | undefined {
  return readTable(path, p);
}

/** Writes `p`'s table to `path` in the cache's format (scripts/make-ks-power-table.mjs writes the shipped ones with it); throws when it cannot. */
export function writePowerTableFile(path: string, p: PowerParams, rows: PowerRow[]): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, tableText(p, rows));
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

function tableText(p: PowerParams, rows: PowerRow[]): string {
  const file: TableFile = { version: KS_POWER_VERSION, nTrain: p.nTrain, nTest: p.nTest, d: p.d, alpha: p.alpha, draws: p.draws, seed: p.seed, rows };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes under a temporary name and renames, so a reader never sees half a file; a cache that cannot be written is skipped. */
function writeTable(path: string, p: PowerParams, rows: PowerRow[]): void {
  const tmp = `${path}.partial-${tempSuffix()}`;
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(tmp, tableText(p, rows));
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
