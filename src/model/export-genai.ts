import type { LlamaConfig } from './config.js';
import type { BuiltExport } from './export-optimum.js';
import type { NamedWeight } from './tiny-weights.js';

/** Placeholder until the genai builder lands. */
export function buildGenaiExport(_cfg: LlamaConfig, _weights: NamedWeight[]): BuiltExport {
  throw new Error('genai style not built yet');
}
