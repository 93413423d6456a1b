import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openNpz } from '../../src/npz/index.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { loadPromptBuilder } from '../../src/prompt/prompt-builder.js';
import { taskCatalog } from '../../src/ruler/tasks.js';
import { startMockHub, type MockHub } from '../hub/mock-hub.js';
import { rulerParquet, type RulerRowFixture } from '../ruler/parquet-writer.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));

/** The CLI in a child process, without blocking this process's event loop (it serves the mock hub). */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

const row = (task: string, i: number): RulerRowFixture => ({
  context: `Row ${i} of ${task}. ` + 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. '.repeat(12),
  question: `What is the special magic number for row ${i}?`,
  answer_prefix: 'The number is',
  answer: [`${1000 + i}`],
  task,
  max_new_tokens: 128,
});

let root: string;
let modelDir: string;
let hub: MockHub;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-capture-hub-'));
  modelDir = join(root, 'model');
  await makeTinyModel({ ...TINY_DEFAULTS, out: modelDir });
  hub = await startMockHub([{
    type: 'dataset', name: taskCatalog().dataset.repo, commit: 'd'.repeat(40),
    files: { '16384/test-00000-of-00001.parquet': rulerParquet([row('vt', 0), row('cwe', 0), row('vt', 1), row('vt', 2)]) },
  }]);
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

describe('poc capture --source hub', () => {
  it('prefills the chat-templated context of the task\'s rows, by prompt_idx within the task', async () => {
    const out = join(root, 'corpus');
    const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HOME: join(root, 'hf'), HF_TOKEN: '' };
    const r = await runCli(['capture', '--task', 'vt', '--prompt-idx', '1,2', '--model', modelDir, '--t-sub', '32',
      '--ep', 'cpu', '--with-input-ids', '--out', out], env);
    expect(r.status, r.stderr).toBe(0);
    const builder = loadPromptBuilder(modelDir);
    for (const j of [1, 2]) {
      const reader = await openNpz(join(out, `prompt_vt__p${j}.npz`));
      const ids = (await reader.read('input_ids')).data as Int32Array;
      await reader.close();
      const want = builder.buildPrefillIds(row('vt', j).context, { maxLength: 16384, promptFormat: 'chat' });
      expect(Array.from(ids)).toEqual(Array.from(want));
      expect(builder.decode(ids)).toContain(`Row ${j} of vt.`);
      expect(builder.decode(ids)).toMatch(/^<\|begin_of_text\|><\|start_header_id\|>system<\|end_header_id\|>\n\nCutting Knowledge Date: December 2023/);
    }
    // the parquet came through the hub client once; a second run is served from the cache
    const again = await runCli(['capture', '--task', 'vt', '--prompt-idx', '0', '--model', modelDir, '--t-sub', '32',
      '--ep', 'cpu', '--with-input-ids', '--out', out], env);
    expect(again.status, again.stderr).toBe(0);
    expect(hub.requests.filter((q) => q.path.includes('/resolve/') && q.method === 'GET').length).toBe(1);
  });
});
