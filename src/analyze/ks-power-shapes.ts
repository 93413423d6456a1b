import { stratifiedHoldout } from '../stats/split.js';
import type { PowerParams } from './ks-power.js';

/** Which power table `poc analyze` asks for at a corpus's unit shape (known before any unit runs). */

/** A unit's shape as analyze cuts it: `strata` query heads of `tSub` rows each, `headDim` columns. */
export interface UnitShape {
  strata: number;
  tSub: number;
  headDim: number;
}

/** The settings of `poc analyze` the table depends on besides the shape. */
export interface PowerSettings {
  holdout: number;
  alpha: number;
  seed: number;
  draws: number;
}

/** analyze's defaults (`poc analyze --help`; the report's 20 draws). */
export const DEFAULT_POWER_SETTINGS: PowerSettings = { holdout: 0.2, alpha: 0.05, seed: 0, draws: 20 };

/** The table's parameters for units of `shape`: n_train / n_test of the same stratified holdout the units get. */
export function unitPowerParams(shape: UnitShape, s: PowerSettings): PowerParams {
  const strata = new Int32Array(shape.strata * shape.tSub);
  for (let h = 0; h < shape.strata; h++) strata.fill(h, h * shape.tSub, (h + 1) * shape.tSub);
  // the sizes do not depend on the split's seed (each stratum gives round(fraction x size) rows)
  const nTest = stratifiedHoldout(strata, s.holdout, 0).test.length;
  return { nTrain: strata.length - nTest, nTest, d: shape.headDim, alpha: s.alpha, draws: s.draws, seed: s.seed };
}
