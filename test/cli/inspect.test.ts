import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusFileName } from '../../src/corpus/index.js';
import { writeNpz } from '../../src/npz/index.js';
import { corpusArrays, writeFixtureCorpus } from '../helpers/corpus-fixture.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'poc-inspect-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('poc inspect', () => {
  it('lists fields, scalars and validity of a corpus file (text and --json)', async () => {
    const [path] = await writeFixtureCorpus(dir, { niah_single_1: [0] });
    const r = run(['inspect', path!]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/queries\s+float16\s+\[2, 4, 16, 8\]\s+2\.00 KiB/);
    expect(r.stdout).toMatch(/task\s+str\s+\[\]\s+.*"niah_single_1"/);
    expect(r.stdout).toMatch(/k_len\s+int64\s+\[\]\s+8 B\s+64/);
    expect(r.stdout).toContain('corpus file: valid (2 layers, 4 q heads, head_dim 8, hidden 32, T_sub 16, k_len 64)');
    const j = run(['inspect', path!, '--json']);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.fields.find((f: { name: string }) => f.name === 'prompt_idx').value).toBe(0);
    expect(parsed.corpus.ok).toBe(true);
  });

  it('exits 1 with one line on a truncated or non-zip file', async () => {
    const good = join(dir, corpusFileName('niah_single_1', 0));
    const cut = join(dir, 'cut.npz');
    await writeFile(cut, (await readFile(good)).subarray(0, 300));
    for (const path of [cut, join(dir, 'absent.npz'), fileURLToPath(new URL('../../package.json', import.meta.url))]) {
      const r = run(['inspect', path]);
      expect(r.status, path).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^poc: cannot read /);
    }
  });

  it('exits 1 and lists the problems of an invalid corpus file', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'));
    const arrays = corpusArrays('vt', 2);
    arrays.task = { dtype: 'unicode', shape: [], data: ['cwe'] };
    const path = join(sub, corpusFileName('vt', 2));
    await writeNpz(path, arrays);
    const r = run(['inspect', path]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('corpus file: INVALID');
    expect(r.stdout).toContain('task is "cwe" but the file name says "vt"');
  });

  it('inspects every .npz of a corpus folder in name order, and exits 1 naming how many are invalid', async () => {
    const sub = await mkdtemp(join(dir, 'folder-'));
    await writeFixtureCorpus(sub, { niah_single_1: [0, 1] });
    const r = run(['inspect', sub]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/corpus file: valid/g)).toHaveLength(2);
    expect(r.stdout.indexOf(corpusFileName('niah_single_1', 0))).toBeLessThan(r.stdout.indexOf(corpusFileName('niah_single_1', 1)));
    const j = JSON.parse(run(['inspect', sub, '--json']).stdout);
    expect(Array.isArray(j) && j.length).toBe(2);
    // one file whose task does not match its name: exit 1, one line naming it
    const arrays = corpusArrays('vt', 2);
    arrays.task = { dtype: 'unicode', shape: [], data: ['cwe'] };
    await writeNpz(join(sub, corpusFileName('vt', 2)), arrays);
    const bad = run(['inspect', sub]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(corpusFileName('vt', 2));
    const empty = await mkdtemp(join(dir, 'empty-'));
    const none = run(['inspect', empty]);
    expect(none.status).toBe(1);
    expect(none.stderr.trim()).toBe(`poc: ${empty} is a folder with no .npz files: give a corpus folder or one .npz file`);
  });
});
