import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { UnitResult } from '../analyze/unit.js';
import type { PowerRow } from '../analyze/ks-power.js';
import { cachedPowerTable } from '../analyze/ks-power-cache.js';
import { aggregate, median } from './aggregate.js';
import { buildFigures } from './figures.js';
import { renderMarkdown } from './markdown.js';
import { tempSuffix } from '../util/temp-name.js';

/** Settings echoed in the report (how the rows were produced). */
export interface ReportSettings {
  corpus?: string;
  kMax?: number;
  covariance?: string;
  granularity?: string;
  holdout?: number;
  alpha?: number;
  seed?: number;
  shard?: string;
  sources?: string;
  /** planted draws per scenario for the KS power table; 0 skips it (default 20) */
  powerDraws?: number;
}

/**
 * Writes report.md and its SVG figures (`<report stem>.<figure>.svg` beside it) from per-unit
 * rows; every file is written to a temporary name and renamed, so nothing is half-written.
 */
export async function writeReport(out: string, rows: UnitResult[], settings: ReportSettings): Promise<{ figures: string[] }> {
  mkdirSync(dirname(out), { recursive: true });
  const agg = aggregate(rows, 200, settings.seed ?? 0);
  const stem = basename(out).replace(/\.md$/i, '');
  const figures = await buildFigures(agg.ok);
  const written: Array<{ file: string; title: string }> = [];
  const paths: string[] = [];
  for (const fig of figures) {
    const file = `${stem}.${fig.name}.svg`;
    const path = join(dirname(out), file);
    atomicWrite(path, fig.svg);
    written.push({ file, title: fig.title });
    paths.push(path);
  }
  const draws = settings.powerDraws ?? 20;
  let power: PowerRow[] | undefined;
  let powerShape: { nTrain: number; nTest: number; d: number } | undefined;
  if (draws > 0 && agg.ok.length > 0) {
    powerShape = {
      nTrain: Math.round(median(agg.ok.map((r) => r.nTrain))),
      nTest: Math.round(median(agg.ok.map((r) => r.nTest))),
      d: Math.round(median(agg.ok.map((r) => r.dim).filter(Number.isFinite))),
    };
    if (Number.isFinite(powerShape.d) && powerShape.d > 0) {
      power = (await cachedPowerTable({ ...powerShape, alpha: settings.alpha ?? 0.05, draws, seed: settings.seed ?? 0 })).rows;
    }
  }
  const { powerDraws: _unused, ...echo } = settings;
  void _unused;
  atomicWrite(out, renderMarkdown({ agg, settings: { ...echo }, power, powerShape, figures: written }));
  return { figures: paths };
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.partial-${tempSuffix()}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
