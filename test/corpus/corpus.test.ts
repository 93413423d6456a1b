import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  corpusFileName, listCorpusFiles, mergeCorpusMeta, metaConflicts, parseCorpusFileName, readCorpusMeta,
  validateCorpusFile, writeCorpusMeta,
} from '../../src/corpus/index.js';
import { writeNpz } from '../../src/npz/index.js';
import { corpusArrays, fixtureMeta, SMALL_DIMS, writeFixtureCorpus } from '../helpers/corpus-fixture.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'poc-corpus-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('corpus naming', () => {
  it('names files like the published corpus and parses them back', () => {
    expect(corpusFileName('niah_multikey_1', 3)).toBe('prompt_niah_multikey_1__p3.npz');
    expect(parseCorpusFileName('prompt_niah_multikey_1__p3.npz')).toEqual({ task: 'niah_multikey_1', promptIdx: 3 });
    expect(parseCorpusFileName('prompt_vt__p12.npz')).toEqual({ task: 'vt', promptIdx: 12 });
    expect(parseCorpusFileName('.prompt_vt__p1.npz.partial-1-ab')).toBeUndefined();
    expect(parseCorpusFileName('meta.json')).toBeUndefined();
    expect(() => corpusFileName('a/b', 0)).toThrow(/task name/);
  });
});

describe('meta.json', () => {
  it('round-trips, merges task lists and reports conflicting settings', async () => {
    const sub = await mkdtemp(join(dir, 'meta-'));
    expect(await readCorpusMeta(sub)).toBeUndefined();
    const a = fixtureMeta({ vt: [2, 0] });
    await writeCorpusMeta(sub, mergeCorpusMeta(undefined, a));
    const back = await readCorpusMeta(sub);
    expect(back?.tasks).toEqual({ vt: [0, 2] });
    const merged = mergeCorpusMeta(back, fixtureMeta({ vt: [1, 2], cwe: [0] }));
    expect(merged.tasks).toEqual({ cwe: [0], vt: [0, 1, 2] });
    expect(metaConflicts(back!, fixtureMeta({ vt: [3] }))).toEqual([]);
    const other = fixtureMeta({ vt: [3] });
    other.capture!.t_sub = 1024;
    expect(metaConflicts(back!, other)).toEqual(['capture.t_sub: 16 in meta.json vs 1024 now']);
  });

  it('treats a corpus whose meta.json predates with_values as captured without values', () => {
    const old = fixtureMeta({ vt: [0] }); // a capture section without with_values
    const asking = (withValues: boolean) => {
      const m = fixtureMeta({ vt: [1] });
      m.capture!.with_values = withValues;
      return m;
    };
    expect(metaConflicts(old, asking(true))).toEqual(['capture.with_values: absent (false) in meta.json vs true now']);
    expect(metaConflicts(old, asking(false))).toEqual([]);
    const withValues = mergeCorpusMeta(old, asking(true));
    expect(metaConflicts(withValues, asking(false))).toEqual(['capture.with_values: true in meta.json vs false now']);
    expect(metaConflicts(withValues, asking(true))).toEqual([]);
    // a meta.json with no capture section says nothing about how files were captured
    expect(metaConflicts({ tasks: { vt: [0] } }, asking(true))).toEqual([]);
  });

  it('rejects meta.json that is not JSON or has the wrong shape', async () => {
    const sub = await mkdtemp(join(dir, 'badmeta-'));
    await writeFile(join(sub, 'meta.json'), '{"model": ');
    await expect(readCorpusMeta(sub)).rejects.toThrow(/not valid JSON/);
    await writeFile(join(sub, 'meta.json'), '{"tasks": {"vt": "0,1"}}');
    await expect(readCorpusMeta(sub)).rejects.toThrow(/tasks.vt must be a list/);
  });
});

describe('corpus validation', () => {
  it('accepts a valid file and lists corpus files in order', async () => {
    const sub = await mkdtemp(join(dir, 'ok-'));
    await writeFixtureCorpus(sub, { vt: [0, 1], cwe: [0] });
    const files = await listCorpusFiles(sub);
    expect(files.map((f) => `${f.task}/${f.promptIdx}`)).toEqual(['cwe/0', 'vt/0', 'vt/1']);
    const meta = await readCorpusMeta(sub);
    const report = await validateCorpusFile(files[1]!.path, meta);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.dims).toMatchObject({ nLayers: 2, nQHeads: 4, headDim: 8, hiddenSize: 32, tSub: 16 });
    expect(report.kLen).toBe(64);
  });

  it('says precisely what is wrong with a bad file', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'));
    const meta = fixtureMeta({ vt: [0] });
    const cases: Array<[string, (a: ReturnType<typeof corpusArrays>) => void, RegExp]> = [
      ['missing queries', (a) => { delete (a as Record<string, unknown>).queries; }, /^queries: missing$/],
      ['float32 queries', (a) => { a.queries = { dtype: 'float32', shape: a.queries!.shape, data: new Float32Array(a.queries!.data.length) }; }, /queries: dtype float32, expected float16/],
      ['T_sub disagreement', (a) => { a.positions = { dtype: 'int32', shape: [15], data: (a.positions!.data as Int32Array).slice(0, 15) }; }, /positions: axis 0 \(T_sub\) is 15, expected 16/],
      ['unsorted positions', (a) => { const p = a.positions!.data as Int32Array; [p[3], p[4]] = [p[4]!, p[3]!]; }, /not strictly ascending at index 4/],
      ['sink position', (a) => { (a.positions!.data as Int32Array)[0] = 1; }, /positions start at 1, below n_sink 4/],
      ['position past k_len', (a) => { (a.positions!.data as Int32Array)[15] = 64; }, /positions end at 64, not below k_len 64/],
      ['wrong task', (a) => { a.task = { dtype: 'unicode', shape: [], data: ['cwe'] }; }, /task is "cwe" but the file name says "vt"/],
      ['wrong prompt_idx', (a) => { a.prompt_idx = { dtype: 'int64', shape: [], data: BigInt64Array.of(4n) }; }, /prompt_idx is 4 but the file name says 0/],
      ['values of 3 kv heads', (a) => { a.values = { dtype: 'float16', shape: [2, 3, 16, 8], data: new Uint16Array(2 * 3 * 16 * 8) }; }, /values: axis 1 \(n_kv_heads\) is 3, expected 2/],
      ['float32 values', (a) => { a.values = { dtype: 'float32', shape: [2, 2, 16, 8], data: new Float32Array(2 * 2 * 16 * 8) }; }, /values: dtype float32, expected float16/],
      ['values of another T_sub', (a) => { a.values = { dtype: 'float16', shape: [2, 2, 15, 8], data: new Uint16Array(2 * 2 * 15 * 8) }; }, /values: axis 2 \(T_sub\) is 15, expected 16/],
      ['values with 3 axes', (a) => { a.values = { dtype: 'float16', shape: [2, 32, 8], data: new Uint16Array(2 * 32 * 8) }; }, /values: shape \[2,32,8\] has 3 axes, expected 4/],
    ];
    for (const [label, mutate, pattern] of cases) {
      const arrays = corpusArrays('vt', 0);
      mutate(arrays);
      const path = join(sub, corpusFileName('vt', 0));
      await rm(path, { force: true });
      await writeNpz(path, arrays);
      const report = await validateCorpusFile(path, meta);
      expect(report.ok, label).toBe(false);
      expect(report.problems.some((p) => pattern.test(p)), `${label}: ${report.problems.join(' | ')}`).toBe(true);
    }
    const wrongLayers = fixtureMeta({ vt: [0] }, { ...SMALL_DIMS, nLayers: 3 });
    await rm(join(sub, corpusFileName('vt', 0)));
    await writeNpz(join(sub, corpusFileName('vt', 0)), corpusArrays('vt', 0));
    const r = await validateCorpusFile(join(sub, corpusFileName('vt', 0)), wrongLayers);
    expect(r.problems).toContain('n_layers is 2 in this file but 3 in meta.json');
    // without meta.json, keys and values must agree with each other on n_kv_heads
    const kvDisagree = corpusArrays('vt', 0);
    kvDisagree.keys = { dtype: 'float16', shape: [2, 2, 16, 8], data: new Uint16Array(2 * 2 * 16 * 8) };
    kvDisagree.values = { dtype: 'float16', shape: [2, 1, 16, 8], data: new Uint16Array(2 * 1 * 16 * 8) };
    await rm(join(sub, corpusFileName('vt', 0)));
    await writeNpz(join(sub, corpusFileName('vt', 0)), kvDisagree);
    expect((await validateCorpusFile(join(sub, corpusFileName('vt', 0)))).problems).toEqual(['values: axis 1 (n_kv_heads) is 1, expected 2']);
    const unreadable = join(sub, corpusFileName('vt', 9));
    await writeFile(unreadable, (await readFile(join(sub, corpusFileName('vt', 0)))).subarray(0, 100));
    const u = await validateCorpusFile(unreadable, meta);
    expect(u.ok).toBe(false);
    expect(u.problems[0]).toMatch(/truncated|end-of-central-directory/);
  });
});
