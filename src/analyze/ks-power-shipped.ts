import { DEMO_SETTINGS } from '../demo/run-demo.js';
import { TINY_DEFAULTS, tinyConfig } from '../model/tiny/make-tiny-model.js';
import { geometryOf } from '../model/config.js';
import { presetFiles } from '../model/tiny/presets.js';
import type { PowerParams } from './ks-power.js';
import { DEFAULT_POWER_SETTINGS, unitPowerParams, type UnitShape } from './ks-power-shapes.js';

/**
 * The shapes whose KS power tables ship with the package (meta/ks-power/), so the first
 * `poc analyze` of them does not spend ~6 CPU s simulating: the published corpus (Llama-3.1-8B,
 * t_sub 1024, DESIGN.md) with either granularity, and `poc demo`'s tiny corpus, all at
 * analyze's default holdout, alpha, seed and draws. scripts/make-ks-power-table.mjs writes
 * them; test/analyze/ks-power-shipped.test.ts recomputes each from scratch, so they can never
 * drift from the code (a change that alters a table fails that test until KS_POWER_VERSION is
 * bumped and the tables are made again).
 */

/** positions per prompt of the published corpus (meta.json's capture.t_sub in DESIGN.md, `poc capture`'s default) */
const PUBLISHED_T_SUB = 1024;

/** The shapes whose tables ship, by name, at analyze's default settings. */
export function shippedPowerShapes(): Array<{ name: string; shape: UnitShape; params: PowerParams }> {
  const llama = geometryOf(presetFiles('llama-3.1-8b').config);
  const tiny = geometryOf(tinyConfig(TINY_DEFAULTS));
  const shapes: Array<{ name: string; shape: UnitShape }> = [
    { name: 'published corpus (Llama-3.1-8B), --granularity kv', shape: { strata: llama.nHeads / llama.nKvHeads, tSub: PUBLISHED_T_SUB, headDim: llama.headDim } },
    { name: 'published corpus (Llama-3.1-8B), --granularity q', shape: { strata: 1, tSub: PUBLISHED_T_SUB, headDim: llama.headDim } },
    { name: 'poc demo (tiny model, --granularity kv)', shape: { strata: tiny.nHeads / tiny.nKvHeads, tSub: DEMO_SETTINGS.tSub, headDim: tiny.headDim } },
  ];
  return shapes.map((s) => ({ ...s, params: unitPowerParams(s.shape, DEFAULT_POWER_SETTINGS) }));
}
