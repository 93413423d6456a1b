import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { globMatcher, isModelFileNeeded } from '../../src/hub/selections.js';
import { main } from '../../src/cli/main.js';
import { startMockHub, type MockHub } from './mock-hub.js';

const enc = (s: string) => new TextEncoder().encode(s);
const COMMIT = 'b'.repeat(40);
let hub: MockHub;
let cache: string;
const saved = { ...process.env };

beforeAll(async () => {
  hub = await startMockHub([
    { type: 'dataset', name: 'owner/corpus', commit: COMMIT, files: {
      'meta.json': enc('{"tasks":{}}'), 'prompt_niah_single_1__p0.npz': enc('npz0'), 'prompt_vt__p0.npz': enc('npz1'),
    } },
    { type: 'model', name: 'owner/llama-onnx', commit: COMMIT, lfs: ['onnx/model.onnx_data'], files: {
      'config.json': enc('{}'), 'tokenizer.json': enc('{}'), 'tokenizer_config.json': enc('{}'), 'onnx/model.onnx': enc('onnx'),
      'onnx/model.onnx_data': enc('weights'), 'model.safetensors': enc('big'), 'README.md': enc('hi'),
    } },
  ]);
  cache = mkdtempSync(join(tmpdir(), 'poc-hubcli-'));
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = cache;
  delete process.env.HF_TOKEN;
});
afterAll(async () => {
  process.env = saved;
  await hub.close();
  rmSync(cache, { recursive: true, force: true });
});

describe('download selections', () => {
  it('matches globs like a shell, on the file name when the glob has no slash', () => {
    const m = globMatcher('prompt_niah_*');
    expect(m('prompt_niah_single_1__p0.npz')).toBe(true);
    expect(m('sub/prompt_niah_x.npz')).toBe(true);
    expect(m('prompt_vt__p0.npz')).toBe(false);
    expect(globMatcher('16384/*.parquet')('16384/a.parquet')).toBe(true);
    expect(globMatcher('16384/*.parquet')('16384/x/a.parquet')).toBe(false);
    expect(globMatcher('**/*.onnx')('a/b/c.onnx')).toBe(true);
    expect(globMatcher('a?c.json')('abc.json')).toBe(true);
  });

  it('keeps only what capture needs from a model repo', () => {
    expect(['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'model.onnx.data', 'tokenizer.json', 'tokenizer_config.json']
      .every(isModelFileNeeded)).toBe(true);
    expect(['model.safetensors', 'README.md', 'pytorch_model.bin'].some(isModelFileNeeded)).toBe(false);
  });

  it('poc download corpus --files fetches the matching files and meta.json', async () => {
    expect(await main(['node', 'poc', 'download', 'corpus', 'owner/corpus', '--files', 'prompt_niah_*'])).toBe(0);
    const snap = join(cache, 'datasets--owner--corpus', 'snapshots', COMMIT);
    expect(readFileSync(join(snap, 'prompt_niah_single_1__p0.npz'), 'utf8')).toBe('npz0');
    expect(readFileSync(join(snap, 'meta.json'), 'utf8')).toBe('{"tasks":{}}');
    expect(() => readFileSync(join(snap, 'prompt_vt__p0.npz'))).toThrow();
  });

  it('poc download model fetches config, tokenizer and ONNX files only', async () => {
    expect(await main(['node', 'poc', 'download', 'model', 'owner/llama-onnx'])).toBe(0);
    const snap = join(cache, 'models--owner--llama-onnx', 'snapshots', COMMIT);
    expect(readFileSync(join(snap, 'onnx', 'model.onnx_data'), 'utf8')).toBe('weights');
    expect(() => readFileSync(join(snap, 'model.safetensors'))).toThrow();
    expect(await main(['node', 'poc', 'download', 'model', 'owner/missing'])).toBe(1);
  });
});
