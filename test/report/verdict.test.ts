import { describe, expect, it } from 'vitest';
import { aggregate } from '../../src/report/aggregate.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { buildVerdict, VERDICT_RULES } from '../../src/report/verdict.js';
import type { UnitResult } from '../../src/analyze/unit.js';
import { createRng } from '../../src/util/rng.js';

/**
 * The verdict's wording against planted per-unit rows: each planted corpus is built so that
 * one aggregate sits on a known side of a threshold, and the sentence must follow it.
 */

/** A unit where one Gaussian is right: K* = 1, the t and the KDE lose, one mode. */
function gaussianUnit(over: Partial<UnitResult> = {}): UnitResult {
  return {
    task: 't', promptIdx: 0, layer: 0, head: 0, nTrain: 3277, nTest: 819, dim: 128, bestK: 1, deltaBicK1: 0, ksStat: 0.02,
    ksP: 0.5, ksPass: true, llTestK1: -150, llTestGmm: -150, llTestKde: -177, llTestT: -151, bicK1: 1e6, bicBest: 1e6, bicT: 1e6 + 300,
    tDof: 200, nModes: 1, bicByK: [1e6, 1e6 + 7e4], pitHist: [], seconds: 1, status: 'ok', ...over,
  };
}

/** Heavy tails: BIC wants K = 2, but a Student-t beats the mixture and there is one mode. */
function studentUnit(over: Partial<UnitResult> = {}): UnitResult {
  return gaussianUnit({ bestK: 2, deltaBicK1: 27500, bicBest: 1e6 - 27500, bicT: 1e6 - 60000, llTestGmm: -146, llTestT: -140, nModes: 1, ...over });
}

/** Separate clusters: K* = 3, three modes, the t far behind. */
function clusterUnit(over: Partial<UnitResult> = {}): UnitResult {
  return gaussianUnit({ bestK: 3, deltaBicK1: 90000, bicBest: 1e6 - 90000, bicT: 1e6 - 5000, llTestGmm: -120, llTestT: -148, nModes: 3, ...over });
}

const PROMPTS = [['a', 0], ['a', 1], ['b', 0], ['b', 1]] as const;

/** 4 prompts × 4 layers × 8 heads of units made by `make`. */
function corpus(make: (layer: number, head: number, prompt: number, index: number) => UnitResult): UnitResult[] {
  const rows: UnitResult[] = [];
  let index = 0;
  PROMPTS.forEach(([task, promptIdx], p) => {
    for (let layer = 0; layer < 4; layer++) {
      for (let head = 0; head < 8; head++) rows.push({ ...make(layer, head, p, index++), task, promptIdx, layer, head });
    }
  });
  return rows;
}

const verdictOf = (rows: UnitResult[]) => buildVerdict(aggregate(rows, 100, 1));

describe('verdict wording follows the numbers', () => {
  it('an all-Gaussian corpus: one Gaussian is not rejected, and Expected Attention keeps its model', () => {
    const v = verdictOf(corpus(() => gaussianUnit()));
    expect(v.rejection).toBe('not-rejected');
    expect(v.sentences[0]).toBe('One Gaussian is not rejected: none of the 128 units prefers a mixture by ΔBIC > 10.');
    expect(v.explanation).toBe('nothing-to-explain');
    // K* is 1 everywhere: no ranking, no stability claim
    expect(v.stability).toBe('no-variation');
    expect(v.sentences.join(' ')).toContain('these units give no reason to change that model');
    expect(v.sentences.join(' ')).not.toMatch(/modes that one Gaussian merges/);
  });

  it('a Student-t corpus: most units reject one Gaussian and the controls explain it', () => {
    const v = verdictOf(corpus(() => studentUnit()));
    expect(v.rejection).toBe('most');
    expect(v.sentences[0]).toMatch(/^Most units reject one Gaussian: 128 of 128 \(100\.0 %\) prefer a mixture by ΔBIC > 10, with a median best K of 2\.0\.$/);
    expect(v.explanation).toBe('all');
    expect(v.sentences[1]).toMatch(/^The controls explain it: of the 128 units that reject one Gaussian, 128 \(100\.0 %\) are better described by one Student-t/);
    expect(v.sentences[1]).toContain('leaving no unit with two or more modes unaccounted for');
    expect(v.sentences.join(' ')).toContain('not separate clusters of queries');
  });

  it('a clustered corpus: the controls do not explain it, and the sentence names the multimodal units', () => {
    const v = verdictOf(corpus(() => clusterUnit()));
    expect(v.explanation).toBe('none');
    expect(v.sentences[1]).toMatch(/^The controls do not explain it: of the 128 units that reject one Gaussian, 0 \(0\.0 %\) .* and 0 \(0\.0 %\) have a single mode .* leaving 128 \(100\.0 %\) with two or more modes/);
    expect(v.sentences.join(' ')).toContain('in 128 of the 128 units the queries form two or more modes');
  });

  it('the share of rejecting units flips "not rejected" / "a minority" / "most" at the stated thresholds', () => {
    // 128 units; rejecting the first n of them
    const withRejecting = (n: number) => verdictOf(corpus((_l, _h, _p, i) => (i < n ? clusterUnit() : gaussianUnit())));
    const justBelow = Math.ceil((VERDICT_RULES.notRejectedBelowPct / 100) * 128) - 1; // 12 of 128 = 9.4 %
    expect(withRejecting(justBelow).rejection).toBe('not-rejected');
    expect(withRejecting(justBelow).sentences[0]).toBe('One Gaussian is not rejected: only 12 of 128 units (9.4 %) prefer a mixture by ΔBIC > 10.');
    expect(withRejecting(justBelow + 1).rejection).toBe('minority'); // 13 of 128 = 10.2 %
    expect(withRejecting(justBelow + 1).sentences[0]).toMatch(/^A minority of units reject one Gaussian: 13 of 128 \(10\.2 %\)/);
    expect(withRejecting(63).rejection).toBe('minority'); // 49.2 %
    expect(withRejecting(64).rejection).toBe('most'); // 50.0 %
  });

  it('the share the controls explain flips the lead at 90 %, 50 % and 10 %', () => {
    // all 128 units reject; the first n are heavy-tailed (explained), the rest clustered
    const explainedBy = (n: number) => verdictOf(corpus((_l, _h, _p, i) => (i < n ? studentUnit() : clusterUnit())));
    const cases: Array<[number, string]> = [
      [116, 'all'], [115, 'most'], // 90.6 % / 89.8 %
      [64, 'most'], [63, 'part'], // 50.0 % / 49.2 %
      [13, 'part'], [12, 'none'], // 10.2 % / 9.4 %
    ];
    for (const [n, level] of cases) expect([n, explainedBy(n).explanation]).toEqual([n, level]);
    expect(explainedBy(115).sentences[1]).toMatch(/^The controls explain most of it: .* leaving 13 \(10\.2 %\) with two or more modes/);
    // a single mode explains as much as a winning Student-t does
    const oneModeMixtures = verdictOf(corpus(() => clusterUnit({ nModes: 1 })));
    expect(oneModeMixtures.explanation).toBe('all');
    expect(oneModeMixtures.sentences[1]).toContain('0 (0.0 %) are better described by one Student-t');
    expect(oneModeMixtures.sentences[1]).toContain('128 (100.0 %) have a single mode');
  });

  it('without the control columns (a CSV from elsewhere) the verdict says the explanation is unknown', () => {
    const v = verdictOf(corpus(() => clusterUnit({ bicT: NaN, nModes: NaN })));
    expect(v.explanation).toBe('unknown');
    expect(v.sentences.join(' ')).toContain('how much of the rejection heavy tails or single-peaked shapes explain is unknown');
    expect(v.sentences.join(' ')).toContain('cannot say whether their queries form separate clusters');
    // units whose t fit failed are left out of the control counts, and the sentence says how many
    const partly = verdictOf(corpus((_l, _h, _p, i) => clusterUnit(i < 28 ? { bicT: NaN } : {})));
    expect(partly.sentences[1]).toContain('of the 100 units that reject one Gaussian and carry both controls (28 have no Student-t fit or mode count)');
  });

  it('K* stability: a head-specific K* is stable beyond the within-layer null; a depth trend alone is not', () => {
    const rng = createRng(3);
    const headK = Array.from({ length: 8 }, () => 2 + rng.int(5));
    const stable = verdictOf(corpus((layer, head) => clusterUnit({ bestK: headK[head]! + (layer % 2) })));
    expect(stable.stability).toBe('stable');
    expect(stable.sentences.join(' ')).toMatch(/K\* is stable beyond the within-layer null: the split-half ρ of 1\.000 exceeds the null's 95th percentile \(0\.\d{3}\)/);
    expect(stable.sentences.join(' ')).toContain('a per-head mixture is the refinement these numbers point to');
    const depth = verdictOf(corpus((layer) => clusterUnit({ bestK: 2 + layer })));
    expect(depth.stability).toBe('depth-trend');
    expect(depth.sentences.join(' ')).toContain("what repeats across prompts is each layer's K*, not each head's");
    // K* drawn afresh for every unit: no structure to repeat
    const noise = createRng(9);
    const random = verdictOf(corpus(() => clusterUnit({ bestK: 2 + noise.int(5) })));
    expect(random.stability).toBe('not-stable');
    expect(random.sentences.join(' ')).toContain('the corpus does not show their number to be a property of the head');
    // one prompt: nothing to compare
    expect(buildVerdict(aggregate([clusterUnit()], 10)).stability).toBe('one-prompt');
  });

  it('the KDE sentence: no evidence when one Gaussian beats the KDE too; backing when only the mixtures do', () => {
    const weakKde = verdictOf(corpus(() => clusterUnit()));
    expect(weakKde.kde).toBe('no-evidence');
    expect(weakKde.sentences.join(' ')).toContain('Beating a Silverman KDE is no evidence of structure here: one Gaussian beats the same KDE on held-out queries in 100.0 % of units');
    const strongKde = verdictOf(corpus(() => clusterUnit({ llTestKde: -130 })));
    expect(strongKde.kde).toBe('backs-mixtures');
    const kdeWins = verdictOf(corpus(() => clusterUnit({ llTestKde: -110 })));
    expect(kdeWins.kde).toBe('kde-better');
    expect(kdeWins.sentences.join(' ')).toContain('they beat it in only 0.0 %');
  });

  it('says nothing about one Gaussian when no mixture was fitted (--k-max 1) or no unit has statistics', () => {
    const k1 = verdictOf(corpus(() => gaussianUnit({ bicByK: [1e6] })));
    expect(k1.rejection).toBe('no-mixtures');
    expect(k1.sentences).toEqual(['No mixture was fitted (every sweep stopped at K = 1), so these numbers cannot test one Gaussian.']);
    expect(verdictOf([gaussianUnit({ status: 'fit failed: singular' })]).sentences).toEqual(['No unit has statistics, so there is no verdict.']);
  });
});

describe('verdict in report.md', () => {
  const rng = createRng(5);
  // a mixed corpus: Gaussian, heavy-tailed and clustered units, one failed t fit
  const rows = corpus((layer, head) => {
    const u = rng.next();
    if (u < 0.3) return gaussianUnit();
    if (u < 0.6) return studentUnit();
    return clusterUnit({ bestK: 2 + ((head + layer) % 4), ...(head === 7 && layer === 3 ? { bicT: NaN } : {}) });
  });
  const md = renderMarkdown({ agg: aggregate(rows, 100, 0), settings: { alpha: 0.05 }, power: undefined, powerShape: undefined, figures: [] });
  const [top, body] = md.split('\n## Headline');

  it('sits at the top, before the headline table', () => {
    expect(md.indexOf('## Verdict')).toBeGreaterThan(0);
    expect(md.indexOf('## Verdict')).toBeLessThan(md.indexOf('## Headline'));
    expect(top!.split('\n').filter((l) => l.startsWith('- ')).length).toBe(5);
  });

  it('quotes only numbers that the report prints below it', () => {
    const verdict = top!.split('\n').filter((l) => l.startsWith('- ')).join('\n');
    // every number in the verdict, with its percent sign when it has one
    const numbers = [...verdict.matchAll(/-?\d+(?:\.\d+)?(?: %)?/g)].map((m) => m[0]);
    expect(numbers.length).toBeGreaterThan(10);
    for (const n of numbers) expect([n, body!.includes(n)]).toEqual([n, true]);
  });
});
