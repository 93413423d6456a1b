import { REJECT_DELTA_BIC, type Aggregates } from './aggregate.js';
import { asPrinted, fixedText, percentText } from './text.js';

/**
 * The verdict at the top of report.md: a few plain sentences, each generated from aggregated
 * numbers that the report prints below it (headline, controls, rank stability), by the
 * thresholds of VERDICT_RULES. Comparisons use the values as printed, so a sentence never
 * contradicts the digits it quotes.
 */

/** Every threshold the verdict's wording depends on. */
export const VERDICT_RULES = {
  /** below this % of units rejecting one Gaussian, "one Gaussian is not rejected": a test run over many units rejects a few by chance */
  notRejectedBelowPct: 10,
  /** at or above this %, "most units"; between the two, "a minority" */
  mostPct: 50,
  /** % of the rejecting units the controls explain: at or above "explain it", "explain most of it", "explain part of it"; below, "do not explain it" */
  explainAllPct: 90,
  explainMostPct: 50,
  explainPartPct: 10,
  /**
   * K* is stable beyond the null when the split-half rho exceeds the 95th percentile of the
   * within-layer permutation null (a one-sided 5 % permutation test). Otherwise, a null
   * median at or above this value means permuting heads within layers keeps the rho: the
   * repetition across prompts is the layer's (depth trend), not the head's.
   */
  depthTrendNullMedian: 0.5,
  /** % of units where one Gaussian beats the KDE at or above which beating the KDE is no evidence of structure */
  kdeWeakPct: 50,
} as const;

/** How many units reject one Gaussian. */
export type RejectionLevel = 'no-units' | 'no-mixtures' | 'not-rejected' | 'minority' | 'most';
/** How much of the rejection the controls (Student-t, single mode) explain. */
export type ExplanationLevel = 'nothing-to-explain' | 'unknown' | 'all' | 'most' | 'part' | 'none';
/** Whether K* repeats across prompts beyond the within-layer null. */
export type StabilityLevel = 'not-judged' | 'one-prompt' | 'no-variation' | 'stable' | 'depth-trend' | 'not-stable';
/** What the KDE comparison says. */
export type KdeLevel = 'unknown' | 'no-evidence' | 'backs-mixtures' | 'kde-better';

/** The verdict: its sentences and the classification each was chosen by. */
export interface Verdict {
  rejection: RejectionLevel;
  explanation: ExplanationLevel;
  stability: StabilityLevel;
  kde: KdeLevel;
  sentences: string[];
}

/** Builds the verdict from the report's aggregates. */
export function buildVerdict(agg: Aggregates): Verdict {
  const rejection = rejectionLevel(agg);
  if (rejection === 'no-units') {
    return { rejection, explanation: 'nothing-to-explain', stability: 'not-judged', kde: 'unknown', sentences: ['No unit has statistics, so there is no verdict.'] };
  }
  if (rejection === 'no-mixtures') {
    return {
      rejection, explanation: 'nothing-to-explain', stability: 'not-judged', kde: 'unknown',
      sentences: ['No mixture was fitted (every sweep stopped at K = 1), so these numbers cannot test one Gaussian.'],
    };
  }
  const explanation = explanationLevel(agg);
  const stability = stabilityLevel(agg);
  const kde = kdeLevel(agg);
  const sentences = [
    rejectionSentence(agg, rejection),
    explanationSentence(agg, explanation),
    kdeSentence(agg, kde),
    stabilitySentence(agg, stability),
    expectedAttentionSentence(agg, rejection, explanation, stability),
  ].filter((s): s is string => s !== undefined);
  return { rejection, explanation, stability, kde, sentences };
}

function rejectionLevel(agg: Aggregates): RejectionLevel {
  if (agg.summary.units === 0) return 'no-units';
  if (agg.mixturesFitted === false) return 'no-mixtures';
  const shown = asPrinted(agg.summary.pctRejectK1, 1);
  if (shown < VERDICT_RULES.notRejectedBelowPct) return 'not-rejected';
  return shown >= VERDICT_RULES.mostPct ? 'most' : 'minority';
}

function explainedPct(agg: Aggregates): number {
  const c = agg.rejecting;
  return c.controlled > 0 ? asPrinted((100 * c.explained) / c.controlled, 1) : NaN;
}

function explanationLevel(agg: Aggregates): ExplanationLevel {
  if (agg.rejecting.units === 0) return 'nothing-to-explain';
  if (agg.rejecting.controlled === 0) return 'unknown';
  const e = explainedPct(agg);
  if (e >= VERDICT_RULES.explainAllPct) return 'all';
  if (e >= VERDICT_RULES.explainMostPct) return 'most';
  return e >= VERDICT_RULES.explainPartPct ? 'part' : 'none';
}

function stabilityLevel(agg: Aggregates): StabilityLevel {
  const st = agg.stability;
  if (!st) return 'one-prompt';
  if (!Number.isFinite(st.splitHalfRho) || !Number.isFinite(st.splitHalfNull.q95)) return 'no-variation';
  if (asPrinted(st.splitHalfRho, 3) > asPrinted(st.splitHalfNull.q95, 3)) return 'stable';
  return asPrinted(st.splitHalfNull.median, 3) >= VERDICT_RULES.depthTrendNullMedian ? 'depth-trend' : 'not-stable';
}

function kdeLevel(agg: Aggregates): KdeLevel {
  if (agg.kde.units === 0) return 'unknown';
  if (asPrinted(agg.kde.pctK1BeatsKde, 1) >= VERDICT_RULES.kdeWeakPct) return 'no-evidence';
  return asPrinted(agg.kde.pctGmmBeatsKde, 1) >= VERDICT_RULES.mostPct ? 'backs-mixtures' : 'kde-better';
}

function rejectionSentence(agg: Aggregates, level: RejectionLevel): string {
  const s = agg.summary;
  const r = agg.rejecting.units;
  const bar = `by ΔBIC > ${REJECT_DELTA_BIC}`;
  if (level === 'not-rejected') {
    return r === 0
      ? `One Gaussian is not rejected: none of the ${s.units} units prefers a mixture ${bar}.`
      : `One Gaussian is not rejected: only ${r} of ${s.units} units (${percentText(s.pctRejectK1)}) prefer a mixture ${bar}.`;
  }
  const lead = level === 'most' ? 'Most units reject one Gaussian' : 'A minority of units reject one Gaussian';
  return `${lead}: ${r} of ${s.units} (${percentText(s.pctRejectK1)}) prefer a mixture ${bar}, with a median best K of ${fixedText(s.medianBestK, 1)}.`;
}

function explanationSentence(agg: Aggregates, level: ExplanationLevel): string | undefined {
  const c = agg.rejecting;
  if (level === 'nothing-to-explain') return undefined;
  if (level === 'unknown') {
    return 'These rows carry no Student-t BIC or mode count, so how much of the rejection heavy tails or single-peaked shapes explain is unknown.';
  }
  const lead = { all: 'The controls explain it', most: 'The controls explain most of it', part: 'The controls explain part of it', none: 'The controls do not explain it' }[level];
  const pctOf = (n: number) => percentText((100 * n) / c.controlled);
  const scope = c.controlled === c.units
    ? `of the ${c.units} units that reject one Gaussian`
    : `of the ${c.controlled} units that reject one Gaussian and carry both controls (${c.units - c.controlled} have no Student-t fit or mode count)`;
  const rest = c.multimodal === 0
    ? 'leaving no unit with two or more modes unaccounted for'
    : `leaving ${c.multimodal} (${pctOf(c.multimodal)}) with two or more modes that neither accounts for`;
  return `${lead}: ${scope}, ${c.tBeatsGmmBic} (${pctOf(c.tBeatsGmmBic)}) are better described by one Student-t `
    + `(a lower BIC than the best mixture: heavy tails, not modes) and ${c.oneMode} (${pctOf(c.oneMode)}) have a single mode `
    + `(the components shape one peak); the two explain ${c.explained} (${pctOf(c.explained)}), ${rest}.`;
}

function kdeSentence(agg: Aggregates, level: KdeLevel): string | undefined {
  const k = agg.kde;
  switch (level) {
    case 'unknown': return undefined;
    case 'no-evidence':
      return `Beating a Silverman KDE is no evidence of structure here: one Gaussian beats the same KDE on held-out queries in ${percentText(k.pctK1BeatsKde)} of units, the mixtures in ${percentText(k.pctGmmBeatsKde)}.`;
    case 'backs-mixtures':
      return `The mixtures beat a Silverman KDE on held-out queries in ${percentText(k.pctGmmBeatsKde)} of units, one Gaussian in only ${percentText(k.pctK1BeatsKde)}, so the KDE margin backs the mixtures.`;
    case 'kde-better':
      return `A Silverman KDE predicts held-out queries better than the mixtures in most units (they beat it in only ${percentText(k.pctGmmBeatsKde)}), so the mixtures miss structure that a nonparametric estimate finds.`;
  }
}

function stabilitySentence(agg: Aggregates, level: StabilityLevel): string {
  const st = agg.stability;
  if (level === 'one-prompt' || level === 'not-judged' || !st) return 'Whether K* is stable across prompts cannot be judged from a single prompt.';
  if (level === 'no-variation') return 'K* does not vary across units, so its stability across prompts cannot be ranked.';
  const rho = fixedText(st.splitHalfRho, 3), q95 = fixedText(st.splitHalfNull.q95, 3), med = fixedText(st.splitHalfNull.median, 3);
  if (level === 'stable') {
    return `K* is stable beyond the within-layer null: the split-half ρ of ${rho} exceeds the null's 95th percentile (${q95}), so heads keep their own number of components across prompts.`;
  }
  if (level === 'depth-trend') {
    return `K* is not stable beyond the within-layer null: permuting heads within each layer gives as high a split-half ρ (null median ${med}, 95th percentile ${q95}, against ${rho}), so what repeats across prompts is each layer's K*, not each head's.`;
  }
  return `K* is not stable beyond the within-layer null: the split-half ρ of ${rho} does not exceed the null's 95th percentile (${q95}).`;
}

function expectedAttentionSentence(agg: Aggregates, rejection: RejectionLevel, explanation: ExplanationLevel, stability: StabilityLevel): string {
  const ea = 'For Expected Attention, which models the queries of each head as one Gaussian';
  if (rejection === 'not-rejected') return `${ea}, these units give no reason to change that model.`;
  if (explanation === 'unknown') {
    return `${ea}: one Gaussian fits ${agg.rejecting.units} of ${agg.summary.units} units worse than a mixture, but without the controls these numbers cannot say whether their queries form separate clusters.`;
  }
  if (explanation === 'all' || explanation === 'most') {
    return `${ea}: where it fails here, what it misses is mostly the shape of a single peak (heavy tails, or components that merge into one mode), not separate clusters of queries, so its one center per head is not what these numbers dispute.`;
  }
  const clause = {
    'stable': ', and since each head keeps its K* across prompts, a per-head mixture is the refinement these numbers point to',
    'depth-trend': '; their number follows the layer rather than the head',
    'not-stable': ', but the corpus does not show their number to be a property of the head that a fixed per-head mixture could rely on',
    'not-judged': '',
    'one-prompt': '',
    'no-variation': '',
  }[stability];
  return `${ea}: in ${agg.rejecting.multimodal} of the ${agg.summary.units} units the queries form two or more modes that one Gaussian merges into a single mean and covariance${clause}. Whether that changes which keys a press keeps is measured by \`poc fidelity\`, not here.`;
}
