import type * as vl from 'vega-lite';
import { renderSvg, type Figure } from '../report/figures.js';
import { PRESS_DEFAULTS, SCORERS } from './press-scorers.js';
import type { PairComparison, PressGroup, PressSummary } from './press-summary.js';

/**
 * The press section of fidelity.md (the headline in plain words, the error and kept-mass
 * tables, the value-norm finding, how the simulation was done) and its two figures.
 */

/** Markdown lines of the press section. */
export function pressMarkdown(p: PressSummary): string[] {
  const L: string[] = [];
  const pct = p.headlineRatio * 100;
  const all = p.overall;
  const h = p.ratios.indexOf(p.headlineRatio);
  const med = (g: PressGroup, s: (typeof SCORERS)[number]) => fmt(g.err[s][h]!.median, 4);
  L.push('## The press: what compression costs the future queries', '');
  const mix = p.mixture[0]!;
  L.push(
    `**At ${pct} % compression the mixture's median output error is ${fmt(mix.medianA, 4)} against kvpress's ${fmt(mix.medianB, 4)}; ` +
    `better in ${pctText(mix.better)} of units** (worse in ${pctText(mix.worse)}, equal in ${pctText(mix.tied)}; ${mix.units} units). ` +
    `Beside them: oracle ${med(all, 'oracle')}, SnapKV ${med(all, 'snapkv')}, StreamingLLM ${med(all, 'streaming_llm')}, random ${med(all, 'random')} ` +
    `(kvpress without value norms ${med(all, 'expected_attention_novnorm')}).`, '',
  );
  for (const c of p.mixture.slice(1)) {
    const g = p.byK.find((x) => x.group === c.group)!;
    L.push(
      `- Units whose BIC-best K ${c.group.slice(2)}: ${c.units} units; mixture ${fmt(c.medianA, 4)} against kvpress ${fmt(c.medianB, 4)}, ` +
      `better in ${pctText(c.better)}, worse in ${pctText(c.worse)}, equal in ${pctText(c.tied)}` +
      (g.units > 0 ? `; oracle ${med(g, 'oracle')}, SnapKV ${med(g, 'snapkv')}, StreamingLLM ${med(g, 'streaming_llm')}, random ${med(g, 'random')}.` : '.'),
    );
  }
  L.push('', 'With K = 1 the mixture is the head\'s own Gaussian and its scores are kvpress\'s, so those units tie by construction.', '');
  L.push('### Did the value norms help?', '');
  L.push(vnormFinding(p.vnorm), '');
  L.push('| ratio | units | median error with ‖v‖ | without | median ratio with/without | with ‖v‖ better | worse | equal |', '|---|---|---|---|---|---|---|---|');
  for (const c of p.vnorm) {
    L.push(`| ${c.group} | ${c.units} | ${fmt(c.medianA, 4)} | ${fmt(c.medianB, 4)} | ${fmt(c.medianRatio, 3)} | ${pctText(c.better)} | ${pctText(c.worse)} | ${pctText(c.tied)} |`);
  }
  L.push('');
  const groups = [p.overall, ...p.byK.filter((g) => g.units > 0), ...p.byLayer];
  L.push('### Relative output error |o − o_kept| / |o|: median over units [IQR] of each unit\'s median over its future queries', '');
  L.push(`| group | units | ratio | ${SCORERS.join(' | ')} |`, `|---|---|---|${SCORERS.map(() => '---|').join('')}`);
  for (const g of groups) {
    p.ratios.forEach((r, i) => {
      L.push(`| ${g.group} | ${g.units} | ${r} | ${SCORERS.map((s) => `${fmt(g.err[s][i]!.median, 4)} [${fmt(g.err[s][i]!.q1, 4)}, ${fmt(g.err[s][i]!.q3, 4)}]`).join(' | ')} |`);
    });
  }
  L.push('');
  L.push('### Attention mass kept (mean over units of each unit\'s mean over its future queries)', '');
  L.push(`| group | ratio | ${SCORERS.join(' | ')} |`, `|---|---|${SCORERS.map(() => '---|').join('')}`);
  for (const g of groups) p.ratios.forEach((r, i) => L.push(`| ${g.group} | ${r} | ${SCORERS.map((s) => fmt(g.mass[s][i]!, 4)).join(' | ')} |`));
  L.push('');
  L.push('### How the press is simulated', '');
  L.push(
    `Per unit (layer, kv head, prompt) the sampled positions before the split are the cache (post-RoPE keys, values) and those after it the future queries of every query head of the group. ` +
    `A press with compression ratio r keeps the int(n (1 − r)) top-scored of the n cached keys; each future query's attention is renormalised over the kept keys, ` +
    `and the error is |o − o_kept| / |o| with o its attention output over the full cache (the median over the unit's future queries), the mass the share of its attention on the kept keys. ` +
    `The sampled cache stands in for the context: its first ${PRESS_DEFAULTS.nSink} entries play kvpress's sink tokens.`, '',
    `- **expected_attention**: kvpress's ExpectedAttentionPress with its defaults: per-head mean and covariance (divided by n) of the pre-RoPE queries after the ${PRESS_DEFAULTS.nSink} sinks, ` +
    `the RoPE matrix averaged over the ${PRESS_DEFAULTS.nFuturePositions} positions after the last cached one, logits μ·k/√d + kᵀΣk/(2d), softmax over the keys after the sinks, mean over the GQA group, ` +
    `then (score + ${PRESS_DEFAULTS.epsilon})·‖v‖; the sinks always kept.`,
    '- **expected_attention_mixture**: the same with the BIC-best full-covariance mixture of the group\'s seen queries (as `poc analyze` fits a unit; each head\'s weights, means and covariances from its own rows) in closed form, ln Σ π_j exp(μ_j·k/√d + kᵀΣ_jk/(2d)).',
    '- **expected_attention_novnorm**: kvpress with use_vnorm=False.',
    `- **snapkv**: a proxy of kvpress's SnapKVPress on the sampled positions we have: the attention of the last ${PRESS_DEFAULTS.snapWindow} cached queries (at their own positions, causal) over the cache, ` +
    `mean over that window, pooled over ${PRESS_DEFAULTS.snapKernel} neighbouring keys by average as kvpress's code does (avg_pool1d; the SnapKV paper max-pools), mean over the group, the window's keys always kept. ` +
    'The sampled window spans far more tokens than 64 real ones, so this is not SnapKV on the real prompt.',
    `- **streaming_llm**: the first ${PRESS_DEFAULTS.nSink} and the most recent keys.`,
    '- **random**: seeded uniform scores (the floor); **oracle**: the true mean attention of the future queries × ‖v‖ (the ceiling; it looks at the future).', '',
  );
  return L;
}

function vnormFinding(rows: PairComparison[]): string {
  const parts = rows.map((c) => {
    // units where the rescaling changed nothing (equal value norms, the same kept set) count for neither side
    const verdict = !Number.isFinite(c.medianRatio) ? 'could not be measured'
      : c.better === 0 && c.worse === 0 ? 'changed nothing'
      : c.better >= 2 * c.worse && c.medianRatio <= 1 ? 'helped'
      : c.worse >= 2 * c.better && c.medianRatio >= 1 ? 'hurt'
      : 'gave mixed results';
    return `at ${Number(c.group) * 100} % compression they ${verdict} (lower error in ${pctText(c.better)} of units, higher in ${pctText(c.worse)}; median error ratio ${fmt(c.medianRatio, 3)})`;
  });
  return `A measured finding, not an assumption — kvpress's rescaling by ‖v‖ against the same press without it: ${parts.join('; ')}.`;
}

/** Error against compression ratio per scorer (median line, IQR band): all units and by layer; and by best K. */
export async function pressFigures(p: PressSummary): Promise<Figure[]> {
  const rowsOf = (groups: PressGroup[]) => groups.filter((g) => g.units > 0).flatMap((g) => SCORERS.flatMap((s) => p.ratios.map((r, i) => ({
    group: g.group, scorer: s, ratio: r, median: g.err[s][i]!.median, q1: g.err[s][i]!.q1, q3: g.err[s][i]!.q3,
  })))).filter((d) => d.median > 0 && d.q1 > 0 && Number.isFinite(d.q3));
  const spec = (values: object[], columns: number): vl.TopLevelSpec => ({
    data: { values },
    facet: { field: 'group', type: 'nominal', title: null, sort: null },
    columns,
    spec: {
      width: 220, height: 180,
      encoding: {
        x: { field: 'ratio', type: 'quantitative', title: 'compression ratio (fraction of keys removed)' },
        color: { field: 'scorer', type: 'nominal', sort: [...SCORERS], title: 'press', scale: { scheme: 'category10' }, legend: { labelLimit: 400 } },
      },
      layer: [
        { mark: { type: 'area', opacity: 0.15 }, encoding: { y: { field: 'q1', type: 'quantitative', scale: { type: 'log' }, title: 'relative output error (median, IQR over units)' }, y2: { field: 'q3' } } },
        { mark: { type: 'line', point: true }, encoding: { y: { field: 'median', type: 'quantitative', scale: { type: 'log' } } } },
      ],
    },
  } as vl.TopLevelSpec);
  const figures: Figure[] = [];
  const byLayer = rowsOf([p.overall, ...p.byLayer]);
  if (byLayer.length > 0) {
    figures.push({ name: 'press-error-by-layer', title: 'Output error against compression ratio per press, all units and by layer (median, IQR band)', svg: await renderSvg(spec(byLayer, 4)) });
  }
  const byK = rowsOf(p.byK);
  if (byK.length > 0) {
    figures.push({ name: 'press-error-by-k', title: 'Output error against compression ratio per press, units whose BIC-best K is 1 and > 1', svg: await renderSvg(spec(byK, 2)) });
  }
  return figures;
}

/** Errors span orders of magnitude: significant digits (`digits` of them, at most 4) rather than fixed decimals. */
function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(Math.min(digits, 3)))) : '–';
}

function pctText(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : '–';
}
