import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { UnitResult } from '../analyze/unit.js';

/**
 * The report's figures as vega-lite specs rendered to SVG headless (vega's View with
 * renderer 'none'; no browser, no canvas).
 */

/** One rendered figure. */
export interface Figure {
  /** file name suffix, e.g. 'kstar-heatmap' */
  name: string;
  title: string;
  svg: string;
}

/** Renders a vega-lite spec to an SVG string. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** All report figures for the ok rows (figures that need data the rows lack are left out). */
export async function buildFigures(ok: UnitResult[]): Promise<Figure[]> {
  if (ok.length === 0) return [];
  const figures: Figure[] = [];
  const cells = ok.map((r) => ({ task: r.task, layer: r.layer, head: r.head, best_k: r.bestK }));
  const heat = (facet: boolean): vl.TopLevelSpec => (facet
    ? { data: { values: cells }, facet: { field: 'task', type: 'nominal', title: 'task' }, columns: 4, spec: heatLayer() }
    : { data: { values: cells }, ...heatLayer() }) as vl.TopLevelSpec;
  figures.push({ name: 'kstar-heatmap', title: 'Mean best K (by BIC) per layer and head, all prompts', svg: await renderSvg(heat(false)) });
  if (new Set(ok.map((r) => r.task)).size > 1) {
    figures.push({ name: 'kstar-heatmap-by-task', title: 'Mean best K per layer and head, by task', svg: await renderSvg(heat(true)) });
  }
  figures.push({
    name: 'bestk-hist', title: 'Histogram of best K',
    svg: await renderSvg({
      data: { values: cells },
      mark: 'bar',
      encoding: {
        x: { field: 'best_k', type: 'ordinal', title: 'best K (BIC)' },
        y: { aggregate: 'count', type: 'quantitative', title: 'units' },
      },
    }),
  });
  const dbic = ok.filter((r) => Number.isFinite(r.deltaBicK1)).map((r) => ({
    // signed log scale: delta BIC spans 0..1e5 and can be negative when K=1 wins
    s: Math.sign(r.deltaBicK1) * Math.log10(1 + Math.abs(r.deltaBicK1)),
  }));
  figures.push({
    name: 'delta-bic', title: 'Distribution of delta BIC = BIC(K=1) - BIC(best K), signed log10(1 + |x|); the published threshold 10 is at 1.04',
    svg: await renderSvg({
      data: { values: dbic },
      layer: [
        { mark: 'bar', encoding: { x: { field: 's', type: 'quantitative', bin: { maxbins: 40 }, title: 'sign x log10(1 + |delta BIC|)' }, y: { aggregate: 'count', type: 'quantitative', title: 'units' } } },
        { data: { values: [{ t: Math.log10(11) }] }, mark: { type: 'rule', color: 'firebrick' }, encoding: { x: { field: 't', type: 'quantitative' } } },
      ],
    }),
  });
  const withPit = ok.filter((r) => r.pitHist.length > 0 && Number.isFinite(r.ksP)).sort((a, b) => a.ksP - b.ksP);
  if (withPit.length > 0) {
    const picks = [...new Set([withPit[0]!, withPit[Math.floor(withPit.length / 3)]!, withPit[Math.floor((2 * withPit.length) / 3)]!, withPit[withPit.length - 1]!])];
    const bars = picks.flatMap((r) => {
      const total = r.pitHist.reduce((s, c) => s + c, 0);
      const label = `${r.task} p${r.promptIdx} L${r.layer} H${r.head} (K=${r.bestK}, p=${r.ksP.toExponential(1)})`;
      return r.pitHist.map((c, b) => ({ unit: label, bin: (b + 0.5) / r.pitHist.length, density: (c * r.pitHist.length) / Math.max(total, 1) }));
    });
    figures.push({
      name: 'pit-hist', title: 'PIT histograms (held-out points, worst direction) for the units with the lowest, a middle and the highest KS p-value; uniform = 1',
      svg: await renderSvg({
        data: { values: bars },
        facet: { field: 'unit', type: 'nominal', title: null },
        columns: 2,
        spec: {
          layer: [
            { mark: 'bar', encoding: { x: { field: 'bin', type: 'quantitative', bin: { step: 0.1 }, title: 'PIT' }, y: { field: 'density', type: 'quantitative', title: 'density' } } },
            { mark: { type: 'rule', color: 'firebrick' }, encoding: { y: { datum: 1 } } },
          ],
        },
      } as vl.TopLevelSpec),
    });
  }
  return figures;
}

function heatLayer(): Record<string, unknown> {
  return {
    mark: 'rect',
    encoding: {
      x: { field: 'head', type: 'ordinal', title: 'head' },
      y: { field: 'layer', type: 'ordinal', title: 'layer' },
      color: { aggregate: 'mean', field: 'best_k', type: 'quantitative', title: 'mean K*', scale: { scheme: 'viridis' } },
    },
  };
}
