import { basename, dirname, join } from 'node:path';
import type * as vl from 'vega-lite';
import { renderSvg, type Figure } from '../report/figures.js';
import { writeFileAtomic } from '../npz/atomic-file.js';
import { METHODS, type FidelityResult } from './unit.js';
import { mixtureGain, type FidelityGroupSummary, type FidelitySummary } from './summary.js';
import { pressFigures, pressMarkdown } from './press-report.js';

/**
 * fidelity.md and its SVG figures (`<stem>.<figure>.svg` beside it): Gaussian vs mixture vs
 * empirical by layer and overall, the units where the mixture helps most and least.
 */

/** Settings echoed at the top of the report. */
export interface FidelityReportSettings {
  corpus: string;
  /** files the corpus plan skipped, with the reason */
  skippedFiles: Array<{ path: string; reason: string }>;
  future: number;
  kMax: number;
  seed: number;
}

/** Writes the report and its figures; returns the figure paths. */
export async function writeFidelityReport(out: string, rows: FidelityResult[], summary: FidelitySummary, settings: FidelityReportSettings): Promise<string[]> {
  const stem = basename(out).replace(/\.md$/i, '');
  const figures = [...(summary.press ? await pressFigures(summary.press) : []), ...await fidelityFigures(rows.filter((r) => r.status === 'ok'), summary.keep)];
  const paths: string[] = [];
  for (const fig of figures) {
    const path = join(dirname(out), `${stem}.${fig.name}.svg`);
    await writeFileAtomic(path, fig.svg);
    paths.push(path);
  }
  await writeFileAtomic(out, renderFidelityMarkdown(summary, settings, figures.map((f) => ({ file: `${stem}.${f.name}.svg`, title: f.title }))));
  return paths;
}

/** The report text. */
export function renderFidelityMarkdown(s: FidelitySummary, settings: FidelityReportSettings, figures: Array<{ file: string; title: string }>): string {
  const L: string[] = [];
  const groups = [s.overall, ...s.byLayer];
  L.push(s.press ? '# poc fidelity: does a mixture make a better KV-cache press?' : '# poc fidelity: does a mixture predict future attention better than one Gaussian?', '');
  L.push(
    `Units: **${s.overall.units}**${s.failed.length ? `, with a failure: ${s.failed.length} (listed at the end)` : ''}. Corpus ${settings.corpus}; the latest ${pctText(settings.future)} ` +
    `of each prompt's sampled positions are the future queries, the rest the seen queries and keys; K ≤ ${settings.kMax}; seed ${settings.seed}; ` +
    `${fmt(s.meanSecondsPerUnit, 2)} s per unit. The future positions span a median of ${fmt(s.medianFutureSpan, 0)} tokens ` +
    '(kvpress averages its rotation over the next 512 positions; a wider window shrinks the averaged rotation more).', '',
  );
  if (s.press) L.push(...pressMarkdown(s.press));
  L.push('## Ranking alone: Spearman ρ of predicted vs true attention over keys (median)', '');
  L.push(
    'Truth per key: the mean over future queries (rotated to their own positions) of exp(q·k/√d), softmax-normalised over keys per query head and averaged over the GQA group, as kvpress combines heads. ' +
    'Predictions from the seen queries: **gaussian** = kvpress Expected Attention (per-head mean and covariance, RoPE matrix averaged over the future positions, closed form); ' +
    '**mixture** = the BIC-best full-covariance mixture of the pooled group (as `poc analyze` fits a unit), its clusters given each head\'s own weights, means and covariances (so K = 1 is exactly kvpress), with the same averaged rotation per component; ' +
    '**empirical** = the seen queries themselves rotated to (up to 32) future positions; ' +
    '**gaussian_perpos** / **mixture_perpos** = the same closed forms averaged over the per-position rotations of those future positions instead of plugging in the averaged rotation ' +
    '(the exact expectation under each query model: gaussian vs gaussian_perpos is the cost of averaging the rotation, gaussian_perpos vs mixture_perpos the cost of assuming one Gaussian).', '',
  );

  L.push(`| group | units | ${METHODS.join(' | ')} | mixture beats gaussian | mean best K |`, `|---|---|${METHODS.map(() => '---|').join('')}---|---|`);
  for (const g of groups) {
    L.push(`| ${g.group} | ${g.units} | ${METHODS.map((m) => fmt(g.medianRho[m], 3)).join(' | ')} | ${pctText(g.mixtureWins)} | ${fmt(g.meanBestK, 2)} |`);
  }
  L.push('');
  L.push('## Recall of the true top keys (mean)', '');
  L.push(keepTable(groups, s.keep, (g, i) => METHODS.map((m) => fmt(g.meanRecall[m][i]!, 3))), '');
  L.push('## Share of true attention mass kept (mean; oracle = keeping the true top keys)', '');
  L.push(keepTable(groups, s.keep, (g, i) => [...METHODS, 'oracle' as const].map((m) => fmt(g.meanKeptMass[m][i]!, 3)), true), '');
  L.push('## Scale of the prediction: ln(predicted total / true total), median', '');
  L.push(`| group | ${METHODS.join(' | ')} |`, `|---|${METHODS.map(() => '---|').join('')}`);
  for (const g of groups) L.push(`| ${g.group} | ${METHODS.map((m) => fmt(g.medianLogMass[m], 3)).join(' | ')} |`);
  L.push('');
  const n = Math.min(5, Math.floor(s.byGain.length / 2) || s.byGain.length);
  if (n > 0) {
    L.push('## Where the mixture helps most and least (ρ mixture − ρ gaussian)', '');
    const table = (rows: FidelityResult[]) => {
      L.push(`| task | prompt | layer | kv head | best K | ${METHODS.map((m) => `ρ ${m}`).join(' | ')} | gain |`, `|---|---|---|---|---|${METHODS.map(() => '---|').join('')}---|`);
      for (const r of rows) {
        L.push(`| ${r.task} | ${r.promptIdx} | ${r.layer} | ${r.head} | ${r.bestK} | ${METHODS.map((m) => fmt(r.rho[m], 3)).join(' | ')} | ${fmt(mixtureGain(r), 3)} |`);
      }
      L.push('');
    };
    L.push('Most:', '');
    table(s.byGain.slice(0, n));
    L.push('Least:', '');
    table(s.byGain.slice(-n).reverse());
  }
  if (figures.length > 0) {
    L.push('## Figures', '');
    for (const f of figures) L.push(`![${f.title}](${f.file})`, '');
  }
  if (settings.skippedFiles.length > 0) {
    L.push('## Files skipped', '');
    for (const f of settings.skippedFiles) L.push(`- ${f.path}: ${f.reason}`);
    L.push('');
  }
  if (s.failed.length > 0) {
    L.push('## Units with a failure', '');
    for (const r of s.failed) L.push(`- ${r.task} p${r.promptIdx} layer ${r.layer} head ${r.head}: ${r.status}`);
    L.push('');
  }
  return `${L.join('\n')}\n`;
}

function keepTable(groups: FidelityGroupSummary[], keep: number[], cells: (g: FidelityGroupSummary, i: number) => string[], oracle = false): string {
  const names = oracle ? [...METHODS, 'oracle'] : [...METHODS];
  const head = `| group | keep | ${names.join(' | ')} |`;
  const rule = `|---|---|${names.map(() => '---').join('|')}|`;
  const body = groups.flatMap((g) => keep.map((f, i) => `| ${g.group} | ${f} | ${cells(g, i).join(' | ')} |`));
  return [head, rule, ...body].join('\n');
}

/** The three figures: median rho by layer, mean recall by layer per keep fraction, mixture gain vs best K. */
export async function fidelityFigures(ok: FidelityResult[], keep: number[]): Promise<Figure[]> {
  if (ok.length === 0) return [];
  const rhoRows = ok.flatMap((r) => METHODS.map((m) => ({ layer: r.layer, method: m, rho: r.rho[m] }))).filter((d) => Number.isFinite(d.rho));
  const recallRows = ok.flatMap((r) => keep.flatMap((f, i) => METHODS.map((m) => ({ layer: r.layer, method: m, keep: `keep ${f}`, recall: r.recall[m][i]! }))));
  const gainRows = ok.map((r) => ({ best_k: r.bestK, gain: mixtureGain(r), layer: r.layer })).filter((d) => Number.isFinite(d.gain));
  const byLayer = (field: string, title: string): Record<string, unknown> => ({
    x: { field: 'layer', type: 'ordinal', title: 'layer' },
    xOffset: { field: 'method', type: 'nominal' },
    color: { field: 'method', type: 'nominal', title: 'prediction' },
    y: { aggregate: field === 'rho' ? 'median' : 'mean', field, type: 'quantitative', title },
  });
  return [
    {
      name: 'rho-by-layer', title: 'Median Spearman ρ of predicted vs true attention, by layer',
      svg: await renderSvg({ data: { values: rhoRows }, mark: 'bar', encoding: byLayer('rho', 'median Spearman ρ') } as vl.TopLevelSpec),
    },
    {
      name: 'recall-by-layer', title: 'Mean recall of the true top keys by layer, per keep fraction',
      svg: await renderSvg({
        data: { values: recallRows }, facet: { field: 'keep', type: 'nominal', title: null }, columns: keep.length,
        spec: { mark: 'bar', encoding: byLayer('recall', 'mean recall') },
      } as vl.TopLevelSpec),
    },
    {
      name: 'gain-vs-k', title: 'Mixture gain (ρ mixture − ρ gaussian) against the best K of the unit',
      svg: await renderSvg({
        data: { values: gainRows },
        layer: [
          { mark: { type: 'point', opacity: 0.6 }, encoding: { x: { field: 'best_k', type: 'quantitative', title: 'best K (BIC)' }, y: { field: 'gain', type: 'quantitative', title: 'ρ mixture − ρ gaussian' }, color: { field: 'layer', type: 'ordinal' } } },
          { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: 0 } } },
        ],
      } as vl.TopLevelSpec),
    },
  ];
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

function pctText(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : '–';
}
