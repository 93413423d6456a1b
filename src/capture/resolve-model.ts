import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { downloadModel } from '../hub/selections.js';
import { ensureTinyModel } from '../model/tiny/make-tiny-model.js';

/** What to type to get a real model, shown when no model was given. */
export const EXPORT_HELP =
  'no model given: pass --model DIR (an ONNX export of Llama-3.1-8B-Instruct), set POC_MODEL, or use --model tiny for the built-in test model. ' +
  'To export: pip install "optimum[onnxruntime]" && optimum-cli export onnx --model meta-llama/Llama-3.1-8B-Instruct --task text-generation-with-past --dtype fp16 --device cuda llama31-onnx/';

export interface ResolvedModel {
  dir: string;
  /** how the folder was found, for the run summary */
  origin: 'folder' | 'tiny' | 'hub';
  name: string;
}

/**
 * Turns `--model` (or $POC_MODEL) into a model folder: an existing folder, `tiny` (built once
 * into the cache), or a hub repo id (downloaded into the Hugging Face cache).
 */
export async function resolveModel(model: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedModel> {
  const spec = model ?? env.POC_MODEL;
  if (!spec) throw new UserError(EXPORT_HELP);
  if (spec === 'tiny') return { dir: await ensureTinyModel(), origin: 'tiny', name: 'poc-tiny-llama' };
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory()) throw new UserError(`--model ${spec} is a file; give the model folder (config.json, tokenizer files, model.onnx)`);
    if (!existsSync(join(spec, 'config.json'))) throw new UserError(`--model ${spec} has no config.json; give a Hugging Face-style model folder with an ONNX export`);
    return { dir: spec, origin: 'folder', name: spec.replace(/\/+$/, '').split('/').pop() ?? spec };
  }
  if (/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(spec) && !spec.startsWith('.')) {
    const result = await downloadModel(spec);
    return { dir: result.snapshotDir, origin: 'hub', name: spec };
  }
  throw new UserError(`--model ${spec}: no such folder, and not a hub repo id (owner/name); ${EXPORT_HELP.replace(/^no model given: /, '')}`);
}
