import { describe, expect, it } from 'vitest';
import { aggregate, quantile, rankStability } from '../../src/report/aggregate.js';
import { renderSvg } from '../../src/report/figures.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import type { UnitResult } from '../../src/analyze/unit.js';
import { createRng } from '../../src/util/rng.js';
import { runPythonJson as runPython } from '../helpers/python.js';

function row(over: Partial<UnitResult>): UnitResult {
  return {
    task: 't', promptIdx: 0, layer: 0, head: 0, nTrain: 100, nTest: 25, dim: 4, bestK: 1, deltaBicK1: 0, ksStat: 0.1,
    ksP: 0.5, ksPass: true, llTestK1: -5, llTestGmm: -5, llTestKde: -6, llTestT: -5.1, bicK1: 10, bicBest: 10, bicT: 12,
    tDof: 10, nModes: 1, bicByK: [10], pitHist: [2, 3, 2, 3, 2, 3, 2, 3, 2, 3], seconds: 0.1, status: 'ok', ...over,
  };
}

describe('report aggregates', () => {
  it('computes headline rates, margins and mode tables from rows', () => {
    const rows = [
      row({ bestK: 1 }),
      row({ head: 1, bestK: 3, deltaBicK1: 50, nModes: 2, llTestGmm: -4, llTestKde: -4.5, ksPass: false }),
      row({ head: 2, bestK: 5, deltaBicK1: 500, nModes: 5, llTestGmm: -3, bicT: 5, bicBest: 8 }),
      row({ head: 3, status: 'fit failed: singular' }),
      row({ layer: -1, head: -1, status: 'bad file: truncated' }),
    ];
    const agg = aggregate(rows, 10);
    expect(agg.summary.units).toBe(3);
    expect(agg.failed.length).toBe(1);
    expect(agg.badFiles.length).toBe(1);
    expect(agg.summary.pctRejectK1).toBeCloseTo(200 / 3, 12);
    expect(agg.summary.medianBestK).toBe(3);
    expect(agg.summary.pctKsPass).toBeCloseTo(200 / 3, 12);
    expect(agg.summary.pctTBeatsGmmBic).toBeCloseTo(100 / 3, 12);
    // GMM - K1 margins: 0, 1, 2 nats
    expect(agg.margins.gmmMinusK1.median).toBe(1);
    expect(agg.modes.pctFewerModesThanK).toBeCloseTo(100 / 3, 12);
    expect(agg.modes.table).toEqual([{ bestK: 1, nModes: 1, count: 1 }, { bestK: 3, nModes: 2, count: 1 }, { bestK: 5, nModes: 5, count: 1 }]);
    const md = renderMarkdown({ agg, settings: { alpha: 0.05 }, power: undefined, powerShape: undefined, figures: [] });
    expect(md).toContain('| units rejecting K=1 (ΔBIC > 10) | 66.7 % | 98 % |');
    expect(md).toContain('## Files skipped');
    expect(md).toContain('fit failed: singular');
  });

  it('quantiles match numpy.percentile (linear)', () => {
    const xs = [3, 1, 4, 1, 5, 9, 2, 6];
    const ref = runPython<number[]>('import json,sys\nimport numpy as np\nx=json.load(sys.stdin)\nprint(json.dumps([float(np.percentile(x,q)) for q in (10,25,50,75,95)]))', xs);
    [0.1, 0.25, 0.5, 0.75, 0.95].forEach((q, i) => expect(quantile(xs, q)).toBeCloseTo(ref[i]!, 12));
  });

  it('rank stability: a head-specific K* pattern is far above the within-layer null; a pure depth trend is not', () => {
    const rng = createRng(4);
    const headEffect = Array.from({ length: 8 }, () => rng.int(6));
    const make = (withHeads: boolean) => {
      const rows: UnitResult[] = [];
      for (let p = 0; p < 6; p++) {
        for (let layer = 0; layer < 6; layer++) {
          for (let head = 0; head < 8; head++) {
            const k = 1 + layer + (withHeads ? headEffect[head]! : 0) + (rng.next() < 0.2 ? 1 : 0);
            rows.push(row({ task: p < 3 ? 'a' : 'b', promptIdx: p, layer, head, bestK: k }));
          }
        }
      }
      return rankStability(rows, 100, 1)!;
    };
    const real = make(true);
    expect(real.splitHalfRho).toBeGreaterThan(0.9);
    expect(real.splitHalfRho).toBeGreaterThan(real.splitHalfNull.q95 + 0.05);
    const depthOnly = make(false);
    // the depth trend alone gives a high rho, and the null reproduces it
    expect(depthOnly.splitHalfRho).toBeGreaterThan(0.8);
    expect(depthOnly.splitHalfRho).toBeLessThan(depthOnly.splitHalfNull.q95 + 0.05);
    expect(real.pairsWithin).toBe(6);
    expect(real.pairsAcross).toBe(9);
  });
});

describe('report figures', () => {
  it('renders a vega-lite spec to a standalone SVG with the marks drawn', async () => {
    const svg = await renderSvg({ data: { values: [{ k: 1, n: 3 }, { k: 2, n: 5 }] }, mark: 'bar', encoding: { x: { field: 'k', type: 'ordinal' }, y: { field: 'n', type: 'quantitative' } } });
    expect(svg.startsWith('<svg')).toBe(true);
    // one bar per datum, with heights in proportion 3 : 5 (180 and 300 px on the default 300 px axis)
    const bars = [...svg.matchAll(/aria-roledescription="bar" d="M[\d.]+,[\d.]+h[\d.]+v([\d.]+)/g)].map((m) => Number(m[1]));
    expect(bars.length).toBe(2);
    expect(bars[0]! / bars[1]!).toBeCloseTo(3 / 5, 6);
    expect(svg).toContain('</svg>');
  });
});
