import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listCorpusFiles, readCorpusMeta, validateCorpusFile } from '../../src/corpus/index.js';
import { taskCatalog } from '../../src/ruler/tasks.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));

let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'poc-demo-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('poc demo (the CI smoke run: tiny model built here, offline, end to end)', () => {
  it('captures 11 synthetic tasks x 2 prompts and writes the report, then resumes without redoing work', async () => {
    const out = join(root, 'demo');
    const env = { ...process.env, POC_CACHE: join(root, 'cache') };
    const r = spawnSync(process.execPath, [BIN, 'demo', '--out', out], { encoding: 'utf8', env, timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`demo: report ${join(out, 'report.md')}`);
    const corpus = join(out, 'corpus');
    const meta = await readCorpusMeta(corpus);
    const files = await listCorpusFiles(corpus);
    expect(files).toHaveLength(taskCatalog().synthetic_tasks.length * 2);
    expect(Object.keys(meta?.tasks ?? {}).sort()).toEqual([...taskCatalog().synthetic_tasks].sort());
    for (const f of files) expect((await validateCorpusFile(f.path, meta)).problems, f.path).toEqual([]);
    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/units rejecting K=1 \(ΔBIC > 10\) \| [\d.]+ % \| 98 %/);
    const units = (await readFile(join(out, 'report.md.units.csv'), 'utf8')).trim().split('\n');
    // 2 layers x 2 kv heads x 22 prompts, plus the header
    expect(units).toHaveLength(1 + 2 * 2 * 22);
    expect((await readdir(out)).filter((n) => n.endsWith('.svg')).length).toBeGreaterThanOrEqual(4);
    // the demo's KS power table ships with the package (meta/ks-power/): none was simulated into the cache
    expect(await readdir(join(root, 'cache'))).not.toContain('ks-power');
    expect(report).toContain('(n_train 410, n_test 102, d 16)');
    const again = spawnSync(process.execPath, [BIN, 'demo', '--out', out], { encoding: 'utf8', env, timeout: 600_000 });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/capture: 0 written, 22 skipped/);
  }, 900_000);
});
