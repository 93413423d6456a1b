import type { Aggregates, BreakdownRow, Quantiles } from './aggregate.js';
import type { PowerRow } from '../analyze/ks-power.js';
import { REJECT_DELTA_BIC } from './aggregate.js';
import { countText, fixedText, percentText } from './text.js';
import { buildVerdict } from './verdict.js';

/**
 * report.md from the aggregates: the verdict in plain words, the headline table beside the
 * published numbers, the controls, rank stability with its null, breakdowns, and the skipped
 * files and units.
 */

/** Published numbers (Llama-3.1-8B-Instruct, RULER 16K), from DESIGN.md. */
export const PUBLISHED = {
  pctRejectK1: 98,
  medianBestK: 5,
  pctKsPass: 98,
  pctGmmBeatsKde: 100,
  rho: 0.927,
};

/** What renderMarkdown needs. */
export interface MarkdownInput {
  agg: Aggregates;
  settings: Record<string, string | number | undefined>;
  power: PowerRow[] | undefined;
  powerShape: { nTrain: number; nTest: number; d: number } | undefined;
  figures: Array<{ file: string; title: string }>;
}

/** The whole report as markdown. */
export function renderMarkdown(input: MarkdownInput): string {
  const { agg, settings, power, powerShape, figures } = input;
  const s = agg.summary;
  const L: string[] = [];
  L.push('# poc analyze: are attention queries one Gaussian per head?', '');
  L.push('## Verdict', '');
  L.push(...buildVerdict(agg).sentences.map((sentence) => `- ${sentence}`), '');
  L.push(`Units analysed: **${s.units}**` + (agg.failed.length ? `, failed: ${agg.failed.length}` : '') + (agg.badFiles.length ? `, files skipped: ${agg.badFiles.length}` : '') + '.', '');
  L.push('Settings: ' + Object.entries(settings).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${v}`).join(', ') + '.', '');

  L.push('## Headline, next to the published numbers', '');
  L.push('| statistic | ours | published |', '|---|---|---|');
  L.push(`| units rejecting K=1 (ΔBIC > 10) | ${p(s.pctRejectK1)} | ${PUBLISHED.pctRejectK1} % |`);
  L.push(`| median best K | ${f(s.medianBestK, 1)} | ${PUBLISHED.medianBestK} |`);
  L.push(`| units passing PIT-KS at the best K (α = ${settings.alpha}) | ${p(s.pctKsPass)} | ${PUBLISHED.pctKsPass} % |`);
  L.push(`| GMM beats a Silverman KDE in held-out log-likelihood | ${p(s.pctGmmBeatsKde)} | ${PUBLISHED.pctGmmBeatsKde} % |`);
  L.push(`| Spearman ρ of unit-level mean K* across prompts (split halves) | ${agg.stability ? f(agg.stability.splitHalfRho, 3) : 'n/a (one prompt)'} | ${PUBLISHED.rho} |`);
  L.push('');
  L.push('PIT-KS here is the directional test of `src/stats/pit.ts` (exact 1-D mixture marginals along 16 seeded random directions and the fitted mean differences, plus 4 principal axes of half the held-out points tested on the other half; Bonferroni; p-values at the effective size n_train·n_test/(n_train+n_test)): the pooled Rosenblatt test rejects even a correct Gaussian at d = 128, so its pass rate is not comparable.', '');

  L.push('## Controls', '');
  L.push('| control | value |', '|---|---|');
  L.push(`| Student-t beats the best GMM in BIC (heavy tails, not modes) | ${p(s.pctTBeatsGmmBic)} |`);
  L.push(`| Student-t beats the best GMM in held-out log-likelihood | ${p(s.pctTBeatsGmmLl)} |`);
  L.push(`| held-out margin GMM − K=1, nats/sample, median [IQR] | ${q(agg.margins.gmmMinusK1)} |`);
  L.push(`| held-out margin GMM − KDE, nats/sample, median [IQR] | ${q(agg.margins.gmmMinusKde)} |`);
  L.push(`| one Gaussian (K=1) beats the KDE in held-out log-likelihood (a weak KDE makes "GMM beats KDE" no evidence) | ${p(agg.kde.pctK1BeatsKde)} |`);
  L.push(`| GMM beats the KDE, over the units with both held-out log-likelihoods | ${p(agg.kde.pctGmmBeatsKde)} |`);
  L.push(`| held-out margin Student-t − GMM, nats/sample, median [IQR] | ${q(agg.margins.tMinusGmm)} |`);
  L.push(`| median number of modes (ridgeline-merged components) | ${f(agg.modes.medianModes, 1)} |`);
  L.push(`| units with fewer modes than components | ${p(agg.modes.pctFewerModesThanK)} |`);
  L.push('');
  const c = agg.rejecting;
  if (c.units > 0) {
    L.push(`### The units that reject one Gaussian (ΔBIC > ${REJECT_DELTA_BIC}): what the controls say`, '');
    L.push('| among the units rejecting K=1 | units |', '|---|---|');
    L.push(`| rejecting K=1, of all units | ${countText(c.units, s.units)} |`);
    L.push(`| with both controls (a Student-t fit and a mode count), of the rejecting units | ${countText(c.controlled, c.units)} |`);
    if (c.controlled < c.units) L.push(`| without a Student-t fit or a mode count, of the rejecting units | ${countText(c.units - c.controlled, c.units)} |`);
    L.push(`| a Student-t has a lower BIC than the best GMM (heavy tails, not modes) | ${countText(c.tBeatsGmmBic, c.controlled)} |`);
    L.push(`| the best GMM has a single mode (its components shape one peak) | ${countText(c.oneMode, c.controlled)} |`);
    L.push(`| explained by either control | ${countText(c.explained, c.controlled)} |`);
    L.push(`| two or more modes and the Student-t not better (explained by neither) | ${countText(c.multimodal, c.controlled)} |`);
    L.push(`| the GMM beats K=1 in held-out log-likelihood | ${countText(c.gmmBeatsK1HeldOut, c.withHeldOut)} |`);
    L.push(`| held-out margin GMM − K=1, nats/sample, median [IQR] | ${q(c.gmmMinusK1)} |`);
    L.push('');
  }
  if (agg.modes.table.length > 0) {
    L.push('### Modes vs components', '');
    const ks = [...new Set(agg.modes.table.map((r) => r.bestK))];
    const ms = [...new Set(agg.modes.table.map((r) => r.nModes))].sort((a, b) => a - b);
    L.push(`| best K \\ modes | ${ms.join(' | ')} |`, `|---|${ms.map(() => '---').join('|')}|`);
    for (const k of ks) L.push(`| ${k} | ${ms.map((m) => agg.modes.table.find((r) => r.bestK === k && r.nModes === m)?.count ?? 0).join(' | ')} |`);
    L.push('');
  }
  if (power && powerShape) {
    L.push(`### KS test on planted data at this size (n_train ${powerShape.nTrain}, n_test ${powerShape.nTest}, d ${powerShape.d})`, '');
    L.push('| planted scenario | rate | draws |', '|---|---|---|');
    for (const r of power) L.push(`| ${r.scenario} | ${r.kind === 'pass' ? 'passes' : 'rejected'} ${p(r.pct)} | ${r.draws} |`);
    L.push('');
  }

  L.push('## Rank stability of K* across prompts', '');
  const st = agg.stability;
  if (!st) L.push('Needs at least two prompts.', '');
  else {
    L.push(`Null: units (heads) permuted within each layer (${st.permutations} permutations), which keeps any depth trend; stability means ρ well above the null.`, '');
    L.push('| statistic | ρ | null (within-layer permutation) |', '|---|---|---|');
    L.push(`| split-half, unit-level mean K* | ${f(st.splitHalfRho, 3)} | median ${f(st.splitHalfNull.median, 3)}, 95th pct ${f(st.splitHalfNull.q95, 3)} |`);
    L.push(`| mean pairwise, prompts of the same task (${st.pairsWithin} pairs) | ${f(st.withinTaskRho, 3)} | ${f(st.withinTaskNull, 3)} |`);
    L.push(`| mean pairwise, prompts of different tasks (${st.pairsAcross} pairs) | ${f(st.acrossTaskRho, 3)} | ${f(st.acrossTaskNull, 3)} |`);
    L.push('');
  }

  if (figures.length > 0) {
    L.push('## Figures', '');
    for (const fig of figures) L.push(`### ${fig.title}`, '', `![${fig.title}](${fig.file})`, '');
  }

  L.push('## By task', '', ...breakdownTable(agg.byTask, 'task'), '');
  L.push('## By layer', '', ...breakdownTable(agg.byLayer, 'layer'), '');
  L.push('## By head', '', ...breakdownTable(agg.byHead, 'head'), '');

  if (agg.badFiles.length > 0) {
    L.push('## Files skipped', '', '| task | prompt | reason |', '|---|---|---|');
    for (const b of agg.badFiles) L.push(`| ${b.task} | ${b.promptIdx} | ${b.status.replace(/^bad file: /, '').replace(/\|/g, '\\|')} |`);
    L.push('');
  }
  if (agg.failed.length > 0) {
    L.push('## Units without statistics', '', '| task | prompt | layer | head | reason |', '|---|---|---|---|---|');
    for (const r of agg.failed.slice(0, 200)) L.push(`| ${r.task} | ${r.promptIdx} | ${r.layer} | ${r.head} | ${r.status.replace(/\|/g, '\\|')} |`);
    if (agg.failed.length > 200) L.push(`| … | | | | ${agg.failed.length - 200} more in the units csv |`);
    L.push('');
  }
  return L.join('\n');
}

function breakdownTable(rows: BreakdownRow[], label: string): string[] {
  const out = [`| ${label} | units | ΔBIC > 10 | median K | mean K | KS pass | GMM > KDE | t beats GMM (BIC) |`, '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    out.push(`| ${r.group} | ${r.units} | ${p(r.pctRejectK1)} | ${f(r.medianBestK, 1)} | ${f(r.meanBestK, 2)} | ${p(r.pctKsPass)} | ${p(r.pctGmmBeatsKde)} | ${p(r.pctTBeatsGmmBic)} |`);
  }
  return out;
}

const p = percentText;
const f = fixedText;

function q(x: Quantiles): string {
  return x.n === 0 ? 'n/a' : `${f(x.median, 2)} [${f(x.q25, 2)}, ${f(x.q75, 2)}]`;
}
