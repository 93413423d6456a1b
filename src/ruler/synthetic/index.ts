import { UserError } from '../../errors.js';
import type { RulerRow } from '../types.js';
import { generateCwe } from './cwe.js';
import { generateFwe } from './fwe.js';
import { generateNiah, NIAH_TASKS } from './niah.js';
import type { SyntheticRequest } from './request.js';
import { generateVt } from './vt.js';

export type { SyntheticRequest } from './request.js';

const GENERATORS: Record<string, (req: SyntheticRequest) => RulerRow> = {
  ...Object.fromEntries(Object.keys(NIAH_TASKS).map((t) => [t, generateNiah])),
  vt: generateVt,
  cwe: generateCwe,
  fwe: generateFwe,
};

/**
 * One offline RULER prompt for a synthetic task; qa_1/qa_2 need their source datasets and
 * fail with the way out.
 */
export function generateSynthetic(req: SyntheticRequest): RulerRow {
  const gen = GENERATORS[req.task];
  if (gen) return gen(req);
  if (req.task === 'qa_1' || req.task === 'qa_2') {
    throw new UserError(`${req.task} is built from ${req.task === 'qa_1' ? 'SQuAD' : 'HotpotQA'} and has no offline generator; use --source hub or --source PATH with a local parquet of simonjegou/ruler`);
  }
  throw new UserError(`no offline generator for task "${req.task}"; synthetic tasks: ${Object.keys(GENERATORS).join(', ')}`);
}
