import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRulerRows, selectPromptIndices } from '../../src/ruler/load.js';
import { readLikeMeta } from '../../src/ruler/like.js';
import { taskCatalog } from '../../src/ruler/tasks.js';
import { UserError } from '../../src/errors.js';
import { rulerParquet, type RulerRowFixture } from './parquet-writer.js';
import { startMockHub, type MockHub } from '../hub/mock-hub.js';

const fixture = (task: string, i: number): RulerRowFixture => ({
  context: `context of ${task} #${i}\nThe grass is green.\n`,
  question: `question ${task} ${i}? `,
  answer_prefix: `prefix ${i}`,
  answer: i % 3 === 0 ? [`a${i}`, `b${i}`] : [`a${i}`],
  task,
  max_new_tokens: task === 'vt' ? 30 : 128,
});
// two files, tasks interleaved: part-0 holds vt #0..2 and niah #0..1, part-1 vt #3..4 and niah #2
const PART0 = [fixture('vt', 0), fixture('niah_single_1', 0), fixture('vt', 1), fixture('vt', 2), fixture('niah_single_1', 1)];
const PART1 = [fixture('niah_single_1', 2), fixture('vt', 3), fixture('vt', 4)];

const tmp = mkdtempSync(join(tmpdir(), 'poc-rsrc-'));
let hub: MockHub;
beforeAll(async () => {
  mkdirSync(join(tmp, 'ds', '16384'), { recursive: true });
  mkdirSync(join(tmp, 'ds', '4096'), { recursive: true });
  writeFileSync(join(tmp, 'ds', '16384', 'part-0.parquet'), rulerParquet(PART0));
  writeFileSync(join(tmp, 'ds', '16384', 'part-1.parquet'), rulerParquet(PART1));
  writeFileSync(join(tmp, 'ds', '4096', 'part-0.parquet'), rulerParquet([fixture('vt', 99)]));
  writeFileSync(join(tmp, 'nocols.parquet'), rulerParquet(PART0, ['answer_prefix', 'answer']));
  writeFileSync(join(tmp, 'nomax.parquet'), rulerParquet(PART0.map((r) => ({ ...r, max_new_tokens: 0 })), ['max_new_tokens']));
  hub = await startMockHub([{
    type: 'dataset', name: taskCatalog().dataset.repo, commit: 'c'.repeat(40), lfs: ['16384/test-00000-of-00002.parquet', '16384/test-00001-of-00002.parquet'],
    files: {
      '16384/test-00000-of-00002.parquet': rulerParquet(PART0),
      '16384/test-00001-of-00002.parquet': rulerParquet(PART1),
      '4096/test-00000-of-00001.parquet': rulerParquet([fixture('vt', 99)]),
    },
  }]);
});
afterAll(async () => {
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

const expectRow = (row: { task: string; promptIdx: number; context: string; question: string; answerPrefix: string; answers: string[]; maxNewTokens: number }, f: RulerRowFixture, idx: number) => {
  expect(row).toEqual({ task: f.task, promptIdx: idx, context: f.context, question: f.question, answerPrefix: f.answer_prefix, answers: f.answer, maxNewTokens: f.max_new_tokens });
};

describe('parquet sources', () => {
  it('indexes a task\'s rows across files in name order, from the 16384/ subfolder of a dataset folder', async () => {
    const rows = await loadRulerRows({ source: join(tmp, 'ds'), task: 'vt', promptIdx: [4, 0, 3] });
    expectRow(rows[0]!, PART1[2]!, 4);
    expectRow(rows[1]!, PART0[0]!, 0);
    expectRow(rows[2]!, PART1[1]!, 3);
    const niah = await loadRulerRows({ source: join(tmp, 'ds', '16384', 'part-1.parquet'), task: 'niah_single_1', promptIdx: [0] });
    expectRow(niah[0]!, PART1[0]!, 0);
    // without a max_new_tokens column, RULER's per-family constant fills it
    const noMax = await loadRulerRows({ source: join(tmp, 'nomax.parquet'), task: 'vt', promptIdx: [1] });
    expect(noMax[0]!.maxNewTokens).toBe(30);
    expect(noMax[0]!.context).toBe(PART0[2]!.context);
  });

  it('reads the hub dataset through the downloader', async () => {
    const cacheDir = join(tmp, 'cache');
    const rows = await loadRulerRows({
      source: 'hub', task: 'niah_single_1', promptIdx: [2, 1], progress: false,
      hubSettings: { endpoint: hub.url, token: undefined, cacheDir },
    });
    expectRow(rows[0]!, PART1[0]!, 2);
    expectRow(rows[1]!, PART0[4]!, 1);
    expect(hub.requests.some((r) => r.path.includes('4096/') && r.path.startsWith('/cdn/'))).toBe(false);
  });

  it('says what is wrong: unreachable hub, out-of-range prompt, missing columns, missing path, unknown task', async () => {
    const gone = await startMockHub([]);
    const url = gone.url;
    await gone.close();
    await expect(loadRulerRows({ source: 'hub', task: 'vt', promptIdx: [0], progress: false, hubSettings: { endpoint: url, token: undefined, cacheDir: join(tmp, 'c2') } }))
      .rejects.toThrow(/cannot download dataset simonjegou\/ruler .*--source synthetic.*local parquet/);
    await expect(loadRulerRows({ source: join(tmp, 'ds'), task: 'vt', promptIdx: [5] }))
      .rejects.toThrow(/prompt_idx 5 is out of range: task vt has 5 rows in .* \(0\.\.4\)/);
    await expect(loadRulerRows({ source: join(tmp, 'ds'), task: 'cwe', promptIdx: [0] }))
      .rejects.toThrow(/task cwe has no rows/);
    await expect(loadRulerRows({ source: join(tmp, 'nocols.parquet'), task: 'vt', promptIdx: [0] }))
      .rejects.toThrow(/lacks the RULER columns answer_prefix, answer/);
    await expect(loadRulerRows({ source: join(tmp, 'nope'), task: 'vt', promptIdx: [0] })).rejects.toThrow(UserError);
    await expect(loadRulerRows({ source: join(tmp, 'ds'), task: 'vtt', promptIdx: [0] })).rejects.toThrow(/valid tasks: niah_single_1/);
  });

  it('selects prompt indices: first N unless listed', () => {
    expect(selectPromptIndices(3)).toEqual([0, 1, 2]);
    expect(selectPromptIndices(3, [7, 2])).toEqual([7, 2]);
  });
});

describe('--like META.json', () => {
  it('takes tasks, prompt indices and capture settings from a corpus meta.json', () => {
    const path = join(tmp, 'meta.json');
    writeFileSync(path, JSON.stringify({
      model: { name: 'meta-llama/Llama-3.1-8B-Instruct', num_hidden_layers: 32 },
      capture: { max_length: 16384, n_sink: 16, t_sub: 1024, seed: 0, source: 'hub', prompt_format: 'chat', dtype: 'float16' },
      tool: { name: 'poc', version: '0.1.0' },
      tasks: { niah_multikey_1: [0, 1, 2, 3, 4], vt: [2] },
    }));
    expect(readLikeMeta(path)).toEqual({
      tasks: { niah_multikey_1: [0, 1, 2, 3, 4], vt: [2] },
      capture: { maxLength: 16384, nSink: 16, tSub: 1024, seed: 0, source: 'hub', promptFormat: 'chat' },
      modelName: 'meta-llama/Llama-3.1-8B-Instruct',
    });
    writeFileSync(path, JSON.stringify({ tasks: { bogus: [0] } }));
    expect(() => readLikeMeta(path)).toThrow(/unknown RULER task "bogus"/);
    writeFileSync(path, JSON.stringify({ tasks: { vt: [-1] } }));
    expect(() => readLikeMeta(path)).toThrow(/tasks\.vt must be a list of non-negative integers/);
    writeFileSync(path, '{');
    expect(() => readLikeMeta(path)).toThrow(UserError);
  });
});
