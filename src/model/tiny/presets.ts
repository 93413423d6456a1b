import { readFileSync } from 'node:fs';
import type { LlamaConfig } from '../config.js';

/** Model shapes `poc make-tiny-model --preset` knows. */
export const PRESET_NAMES = ['llama-3.1-8b'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** The published files of a preset's model, from meta/<model>/ (three folders above this module, in src/ and dist/ alike). */
export interface PresetFiles {
  /** config.json as published (num_hidden_layers as the real model's) */
  config: LlamaConfig;
  generationConfig: Record<string, unknown>;
  /** chat_template of tokenizer_config.json */
  chatTemplate: string;
}

const FOLDERS: Record<PresetName, string> = { 'llama-3.1-8b': 'llama-3.1-8b-instruct' };

/** Read the files of preset `name` (meta/llama-3.1-8b-instruct/ for llama-3.1-8b). */
export function presetFiles(name: PresetName): PresetFiles {
  const at = (file: string) => new URL(`../../../meta/${FOLDERS[name]}/${file}`, import.meta.url);
  return {
    config: JSON.parse(readFileSync(at('config.json'), 'utf8')) as LlamaConfig,
    generationConfig: JSON.parse(readFileSync(at('generation_config.json'), 'utf8')) as Record<string, unknown>,
    chatTemplate: readFileSync(at('chat_template.jinja'), 'utf8'),
  };
}
