import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeReport } from '../report/index.js';
import { dedupe, parseUnitsCsv } from './units-csv.js';
import type { UnitResult } from './unit.js';

/** Options of `poc merge`. */
export interface MergeOptions {
  out: string;
  shards: string[];
  /** planted draws for the report's KS power table (default 20) */
  powerDraws?: number;
  alpha?: number;
}

export interface MergeResult {
  report: string;
  figures: string[];
  units: number;
  /** rows that appeared in more than one shard (kept once) */
  duplicates: number;
}

/** Builds one report from per-unit CSV shards written by `poc analyze --shard i/n`. */
export async function runMerge(opts: MergeOptions): Promise<MergeResult> {
  if (opts.shards.length === 0) throw new UserError('no shard csv files given; pass the <out>.units.csv files of every shard');
  const rows: UnitResult[] = [];
  for (const path of opts.shards) {
    if (!existsSync(path)) throw new UserError(`shard ${path} does not exist`);
    try {
      rows.push(...parseUnitsCsv(readFileSync(path, 'utf8'), path));
    } catch (err) {
      throw new UserError(`${(err as Error).message}; merge takes per-unit csv files written by poc analyze`);
    }
  }
  const unique = dedupe(rows);
  const out = resolve(opts.out);
  const { figures } = await writeReport(out, unique, {
    sources: opts.shards.join(' '), alpha: opts.alpha ?? 0.05, powerDraws: opts.powerDraws,
  });
  return { report: out, figures, units: unique.filter((r) => r.layer >= 0).length, duplicates: rows.length - unique.length };
}
