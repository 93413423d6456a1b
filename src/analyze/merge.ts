import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../npz/atomic-file.js';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeReport } from '../report/index.js';
import { dedupe, formatUnitRow, parseUnitsCsv, UNIT_COLUMNS } from './units-csv.js';
import { defaultUnitsPath, settingsPath } from './run.js';
import type { UnitResult } from './unit.js';

/** Options of `poc merge`. */
export interface MergeOptions {
  out: string;
  shards: string[];
  /** planted draws for the report's KS power table (default 20) */
  powerDraws?: number;
  alpha?: number;
}

/** What `poc merge` wrote. */
export interface MergeResult {
  report: string;
  /** every unit once, in (task, prompt_idx, layer, head) order: `<out>.units.csv` */
  unitsCsv: string;
  figures: string[];
  units: number;
  /** rows that appeared in more than one shard (kept once) */
  duplicates: number;
}

/**
 * The run settings recorded beside the shards (absent for csv files from elsewhere); shards
 * analysed with different settings cannot share a report.
 */
function shardSettings(shards: string[]): Record<string, string | number> {
  let first: { path: string; text: string; value: Record<string, string | number> } | undefined;
  for (const path of shards) {
    const sidecar = settingsPath(path);
    if (!existsSync(sidecar)) continue;
    const text = JSON.stringify(JSON.parse(readFileSync(sidecar, 'utf8')));
    if (!first) first = { path, text, value: JSON.parse(text) as Record<string, string | number> };
    else if (first.text !== text) throw new UserError(`shards ${first.path} and ${path} were analysed with different settings (see their .settings.json)`);
  }
  return first?.value ?? {};
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
  const settings = shardSettings(opts.shards);
  const unique = dedupe(rows);
  const out = resolve(opts.out);
  // one csv as a single `poc analyze` writes it (whatever order the shards finished units in)
  const unitsCsv = defaultUnitsPath(out);
  const sorted = [...unique].sort(compareUnits);
  mkdirSync(dirname(out), { recursive: true });
  await writeFileAtomic(unitsCsv, `${UNIT_COLUMNS.join(',')}\n${sorted.map(formatUnitRow).join('')}`);
  if (Object.keys(settings).length > 0) await writeFileAtomic(settingsPath(unitsCsv), `${JSON.stringify(settings, null, 2)}\n`);
  const { figures } = await writeReport(out, unique, {
    ...settings, alpha: opts.alpha ?? (settings.alpha as number | undefined) ?? 0.05, sources: opts.shards.join(' '), powerDraws: opts.powerDraws,
  });
  return { report: out, unitsCsv, figures, units: unique.filter((r) => r.layer >= 0).length, duplicates: rows.length - unique.length };
}

function compareUnits(a: UnitResult, b: UnitResult): number {
  return a.task < b.task ? -1 : a.task > b.task ? 1 : a.promptIdx - b.promptIdx || a.layer - b.layer || a.head - b.head;
}
