import { downloadRepoFiles, type DownloadResult } from './download.js';
import type { HubSettings } from './settings.js';

/** The published query corpus (npz files + meta.json). */
export const DEFAULT_CORPUS_REPO = 'June30916/multimodality-poc-llama31-ruler16k';

// Files capture reads from an ONNX model repo; weights other than ONNX are skipped.
const MODEL_FILE_NAMES = new Set([
  'config.json', 'generation_config.json', 'genai_config.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja',
]);
const MODEL_FILE_SUFFIXES = ['.onnx', '.onnx_data', '.onnx.data', '.onnx.data_0', '.onnx_data_0'];

/** True for the files of a model repo that capture needs: config, tokenizer, ONNX + external data. */
export function isModelFileNeeded(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return MODEL_FILE_NAMES.has(base) || MODEL_FILE_SUFFIXES.some((s) => base.endsWith(s));
}

/**
 * A shell-style glob over repo paths: `*` and `?` stay within one path segment, `**` spans
 * segments; a glob without "/" matches against the file name too ("prompt_niah_*").
 */
export function globMatcher(glob: string): (path: string) => boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const full = new RegExp(`^${re}$`);
  const onName = !glob.includes('/');
  return (path) => full.test(path) || (onName && full.test(path.slice(path.lastIndexOf('/') + 1)));
}

export interface SelectionOptions {
  settings?: HubSettings;
  progress?: boolean;
  revision?: string;
}

/** Downloads the files capture needs from an ONNX model repo; the snapshot folder is a --model DIR. */
export function downloadModel(repo: string, options: SelectionOptions = {}): Promise<DownloadResult> {
  return downloadRepoFiles({
    repo: { type: 'model', name: repo },
    include: isModelFileNeeded,
    hint: 'set HF_ENDPOINT to a reachable mirror, or export the model to ONNX locally and pass --model DIR',
    ...options,
  });
}

/** Downloads a published corpus (dataset repo), optionally only the files matching `filesGlob`. */
export function downloadCorpus(repo: string = DEFAULT_CORPUS_REPO, filesGlob?: string, options: SelectionOptions = {}): Promise<DownloadResult> {
  const match = filesGlob ? globMatcher(filesGlob) : undefined;
  return downloadRepoFiles({
    repo: { type: 'dataset', name: repo },
    // meta.json always comes along: analyze needs it beside the npz files
    include: match ? (p) => match(p) || p === 'meta.json' || p.endsWith('/meta.json') : undefined,
    hint: 'set HF_ENDPOINT to a reachable mirror, or capture a corpus locally with `poc capture`',
    ...options,
  });
}
