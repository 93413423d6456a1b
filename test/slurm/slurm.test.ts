import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planJobs } from '../../src/capture/run-capture.js';
import { corpusFileName } from '../../src/corpus/naming.js';
import { listCorpusFiles, readCorpusMeta, validateCorpusFile } from '../../src/corpus/index.js';
import { readUnitsCsv, unitId } from '../../src/analyze/units-csv.js';
import type { UnitResult } from '../../src/analyze/unit.js';
import { taskCatalog } from '../../src/ruler/tasks.js';
import { jobStates, slurmUnavailable, startSlurm, waitForJobs, type SlurmCluster } from './cluster.js';

// The examples/slurm pipeline on a real one-node Slurm that this file starts and stops,
// over the tiny model and the offline RULER generators (11 tasks, one prompt each).

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'poc.js');
const SUBMIT = join(REPO, 'examples', 'slurm', 'submit.sh');
const SHARDS = 3;
const TASKS = taskCatalog().synthetic_tasks;
// short prompts and few positions keep the whole file near a minute on 2 cores
const CAPTURE_FLAGS = ['--source', 'synthetic', '--prompts', '1', '--max-length', '2048', '--t-sub', '128', '--ep', 'cpu'];
const ANALYZE_FLAGS = ['--k-max', '4'];
const UNITS = TASKS.length * 2 * 2; // files x layers x kv heads of the tiny model

const unavailable = slurmUnavailable();
if (unavailable) process.stderr.write(`test/slurm: skipped, no Slurm cluster can be started here: ${unavailable}\n`);

describe.skipIf(unavailable !== undefined)(`examples/slurm on a real one-node Slurm${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let root: string;
  let cluster: SlurmCluster | undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'poc-slurm-'));
    const t0 = performance.now();
    cluster = await startSlurm(join(root, 'slurm'));
    process.stderr.write(`slurm: node ${cluster.node} idle ${((performance.now() - t0) / 1000).toFixed(1)} s after starting munged\n`);
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 120_000);

  /** Runs submit.sh with the pipeline's settings in the environment; returns the three job ids. */
  function submit(name: string, capture: string[]): { capture: string; analyze: string; merge: string } {
    const env: NodeJS.ProcessEnv = {
      ...process.env, ...cluster!.env,
      PATH: [dirname(process.execPath), cluster!.env.PATH].join(':'),
      POC_MODEL: 'tiny',
      POC_CORPUS: join(root, name, 'corpus'),
      POC_OUT: join(root, name, 'out'),
      POC_SHARDS: String(SHARDS),
      POC_ANALYZE_SHARDS: String(SHARDS),
      POC_PARTITION: '',
      POC_GPUS_PER_TASK: '0',
      POC_CPUS_PER_TASK: '1',
      POC_TIME: '00:15:00',
      POC_CAPTURE_ARGS: capture.join(' '),
      POC_ANALYZE_ARGS: ANALYZE_FLAGS.join(' '),
      // a cache of its own: the array tasks build the tiny model and its graphs at the same time
      POC_CACHE: join(root, name, 'cache'),
    };
    delete env.POC_BIN; // submit.sh's default: this checkout's bin/poc.js
    const r = spawnSync('bash', [SUBMIT], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const id = (stage: string) => {
      const m = new RegExp(`^${stage} (\\d+) `, 'm').exec(r.stdout);
      if (!m) throw new Error(`submit.sh printed no ${stage} job id:\n${r.stdout}`);
      return m[1]!;
    };
    return { capture: id('capture'), analyze: id('analyze'), merge: id('merge') };
  }

  const logsOf = (name: string, stage: string) => {
    const dir = join(root, name, 'out', 'logs');
    return readdirSync(dir).filter((f) => f.startsWith(`${stage}-`)).sort().map((f) => readFileSync(join(dir, f), 'utf8'));
  };
  const failureContext = (name: string) => ['capture', 'analyze', 'merge']
    .map((s) => `--- ${s} logs\n${(existsSync(join(root, name, 'out', 'logs')) ? logsOf(name, s) : []).map((l) => l.slice(-1500)).join('\n')}`).join('\n');

  async function finish(name: string, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
    try {
      return await waitForJobs(cluster!, ids, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${failureContext(name)}`);
    }
  }

  /** "stage: first start -> last end (s)" per job, from squeue's second-resolution times, for the log. */
  function stageTimes(ids: Record<string, string>): string {
    const r = spawnSync('squeue', ['-h', '-r', '--states=all', '-j', Object.values(ids).join(','), '-o', '%i %S %e'], { env: { ...process.env, ...cluster!.env }, encoding: 'utf8' });
    const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const t = (x: string) => Date.parse(x) / 1000;
    const first = Math.min(...rows.map((x) => t(x[1]!)));
    return Object.entries(ids).map(([stage, id]) => {
      const mine = rows.filter((x) => x[0] === id || x[0]!.startsWith(`${id}_`));
      return `${stage} ${Math.min(...mine.map((x) => t(x[1]!))) - first}-${Math.max(...mine.map((x) => t(x[2]!))) - first} s`;
    }).join(', ');
  }

  function expectAllCompleted(states: Map<string, string>, name: string): void {
    const bad = [...states].filter(([, s]) => s !== 'COMPLETED');
    expect(bad, failureContext(name)).toEqual([]);
  }

  /** Every file name under `dir`, recursively, relative to it. */
  function walk(dir: string, prefix = ''): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
  }

  const withoutSeconds = (rows: UnitResult[]) => new Map(rows.map((r) => { const { seconds: _s, ...rest } = r; void _s; return [unitId(r), rest]; }));
  const dataLines = (csv: string) => readFileSync(csv, 'utf8').trimEnd().split('\n').slice(1);

  it('capture -> analyze -> merge through submit.sh equals single-process runs, and a re-submission redoes nothing', async () => {
    // the references: one process each, no Slurm
    const ref = join(root, 'ref');
    const refEnv = { ...process.env, POC_CACHE: join(ref, 'cache') };
    const c = spawnSync(process.execPath, [BIN, 'capture', '--all-tasks', '--model', 'tiny', '--out', join(ref, 'corpus'), ...CAPTURE_FLAGS], { env: refEnv, encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    const a = spawnSync(process.execPath, [BIN, 'analyze', '--corpus', join(ref, 'corpus'), '--out', join(ref, 'report.md'), ...ANALYZE_FLAGS], { env: refEnv, encoding: 'utf8' });
    expect(a.status, a.stderr).toBe(0);

    const t0 = performance.now();
    const ids = submit('run', CAPTURE_FLAGS);
    const states = await finish('run', [ids.capture, ids.analyze, ids.merge], 240_000);
    process.stderr.write(`slurm: capture+analyze+merge (${SHARDS} shards each) done ${((performance.now() - t0) / 1000).toFixed(1)} s after submission (${stageTimes(ids)})\n`);
    expectAllCompleted(states, 'run');
    expect([...states.keys()].filter((k) => k.startsWith(`${ids.capture}_`)).sort()).toEqual([0, 1, 2].map((i) => `${ids.capture}_${i}`));

    // the corpus of three concurrent tasks is the single process's, byte for byte (meta.json included), and nothing else
    const corpus = join(root, 'run', 'corpus');
    const names = readdirSync(corpus).sort();
    expect(names).toEqual(readdirSync(join(ref, 'corpus')).sort());
    expect(names).toEqual(['meta.json', ...TASKS.map((t) => corpusFileName(t, 0))].sort());
    for (const n of names) expect(Buffer.compare(readFileSync(join(corpus, n)), readFileSync(join(ref, 'corpus', n))), n).toBe(0);
    // each task wrote its own shard's files
    const written = logsOf('run', 'capture').map((l) => Number(/capture: (\d+) written/.exec(l)?.[1] ?? NaN));
    expect(written).toEqual([0, 1, 2].map((i) => planJobs({ tasks: TASKS, promptIdx: [0], shard: { index: i, count: SHARDS } }).length));
    // the cache the tasks built at the same time holds no temporary leftovers
    expect(walk(join(root, 'run', 'cache')).filter((p) => /\.tmp-|\.building-|\.partial-/.test(p))).toEqual([]);

    // the merged csv and report hold the single run's units with the same values
    const out = join(root, 'run', 'out');
    const merged = readUnitsCsv(join(out, 'report.md.units.csv'));
    const single = readUnitsCsv(join(ref, 'report.md.units.csv'));
    expect(merged).toHaveLength(UNITS);
    expect(single).toHaveLength(UNITS);
    expect(withoutSeconds(merged)).toEqual(withoutSeconds(single));
    // the reports differ only in the line that echoes where the rows came from
    const report = (p: string) => readFileSync(p, 'utf8').split('\n').filter((l) => !l.startsWith('Settings:'));
    expect(report(join(out, 'report.md'))).toEqual(report(join(ref, 'report.md')));

    // submitting again: every file and unit is found done, nothing rewritten or appended
    const shardCsvs = [0, 1, 2].map((i) => join(out, 'shards', `units-${i}-of-${SHARDS}.csv`));
    const before = {
      mtimes: names.map((n) => statSync(join(corpus, n)).mtimeMs),
      shardLines: shardCsvs.map(dataLines),
    };
    expect(before.shardLines.flat()).toHaveLength(UNITS);
    const t1 = performance.now();
    const again = submit('run', CAPTURE_FLAGS);
    expectAllCompleted(await finish('run', [again.capture, again.analyze, again.merge], 240_000), 'run');
    process.stderr.write(`slurm: the re-submission (all done already) took ${((performance.now() - t1) / 1000).toFixed(1)} s (${stageTimes(again)})\n`);
    expect(names.map((n) => statSync(join(corpus, n)).mtimeMs)).toEqual(before.mtimes);
    expect(shardCsvs.map(dataLines)).toEqual(before.shardLines);
    const captureLogs = readdirSync(join(out, 'logs')).filter((f) => f.startsWith(`capture-${again.capture}_`)).map((f) => readFileSync(join(out, 'logs', f), 'utf8'));
    expect(captureLogs.map((l) => /capture: (\d+) written/.exec(l)?.[1])).toEqual(['0', '0', '0']);
    const analyzeLogs = readdirSync(join(out, 'logs')).filter((f) => f.startsWith(`analyze-${again.analyze}_`)).map((f) => readFileSync(join(out, 'logs', f), 'utf8'));
    expect(analyzeLogs.map((l) => /analysed (\d+) unit\(s\)/.exec(l)?.[1])).toEqual(['0', '0', '0']);
    expect(withoutSeconds(readUnitsCsv(join(out, 'report.md.units.csv')))).toEqual(withoutSeconds(single));
  }, 600_000);

  it('a capture task cancelled mid-run is resumed by re-submitting: corpus complete, every file valid, no partial file left', async () => {
    // longer prompts (~2 s each here), so shard 0 (4 prompts) is still running when its first file appears
    const flags = CAPTURE_FLAGS.map((x) => (x === '2048' ? '8192' : x));
    const shard0 = planJobs({ tasks: TASKS, promptIdx: [0], shard: { index: 0, count: SHARDS } }).map((j) => corpusFileName(j.task, j.promptIdx));
    const corpus = join(root, 'cancel', 'corpus');
    const ids = submit('cancel', flags);
    const t0 = performance.now();
    for (;;) {
      if (shard0.some((n) => existsSync(join(corpus, n)))) break;
      const s = jobStates(cluster!, [ids.capture]).get(`${ids.capture}_0`);
      if (s && s !== 'PENDING' && s !== 'RUNNING') throw new Error(`capture task 0 ended (${s}) before it wrote a file\n${failureContext('cancel')}`);
      if (performance.now() - t0 > 180_000) throw new Error(`capture task 0 wrote no file within 180 s\n${failureContext('cancel')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = spawnSync('scancel', [`${ids.capture}_0`], { env: { ...process.env, ...cluster!.env }, encoding: 'utf8' });
    expect(cancel.status, cancel.stderr).toBe(0);
    const states = await finish('cancel', [ids.capture, ids.analyze, ids.merge], 240_000);
    expect(states.get(`${ids.capture}_0`)).toBe('CANCELLED');
    expect(states.get(`${ids.capture}_1`)).toBe('COMPLETED');
    expect(states.get(`${ids.capture}_2`)).toBe('COMPLETED');
    // afterok can no longer be met: --kill-on-invalid-dep cancels the later stages instead of leaving them pending
    expect([...states].filter(([k]) => !k.startsWith(`${ids.capture}_`)).every(([, s]) => s === 'CANCELLED'), JSON.stringify([...states])).toBe(true);
    const doneBefore = shard0.filter((n) => existsSync(join(corpus, n)));
    // it really stopped mid-run: some of its files are missing
    expect(doneBefore.length).toBeGreaterThan(0);
    expect(doneBefore.length, 'capture task 0 finished before the cancel reached it').toBeLessThan(shard0.length);
    const cancelledLog = readFileSync(join(root, 'cancel', 'out', 'logs', `capture-${ids.capture}_0.log`), 'utf8');
    expect(cancelledLog).toMatch(/SIGTERM received/);
    expect(readdirSync(corpus).filter((n) => n.startsWith('.'))).toEqual([]); // the stopped task removed its unfinished file
    const mtimes = doneBefore.map((n) => statSync(join(corpus, n)).mtimeMs);

    const again = submit('cancel', flags);
    expectAllCompleted(await finish('cancel', [again.capture, again.analyze, again.merge], 240_000), 'cancel');
    process.stderr.write(`slurm: cancel at ${doneBefore.length}/${shard0.length} files of task 0, re-submission complete ${((performance.now() - t0) / 1000).toFixed(1)} s after the first submission\n`);
    const names = readdirSync(corpus).sort();
    expect(names).toEqual(['meta.json', ...TASKS.map((t) => corpusFileName(t, 0))].sort()); // no partial file, no lock
    const meta = await readCorpusMeta(corpus);
    expect(meta?.tasks).toEqual(Object.fromEntries([...TASKS].sort().map((t) => [t, [0]])));
    const files = await listCorpusFiles(corpus);
    expect(files).toHaveLength(TASKS.length);
    for (const f of files) expect((await validateCorpusFile(f.path, meta)).problems, f.path).toEqual([]);
    // the files finished before the cancel were skipped, not rewritten
    expect(doneBefore.map((n) => statSync(join(corpus, n)).mtimeMs)).toEqual(mtimes);
    const resumed = readFileSync(join(root, 'cancel', 'out', 'logs', `capture-${again.capture}_0.log`), 'utf8');
    expect(/capture: (\d+) written, (\d+) skipped/.exec(resumed)?.slice(1)).toEqual([String(shard0.length - doneBefore.length), String(doneBefore.length)]);
    // and the analysis of the completed corpus has every unit once
    const merged = join(root, 'cancel', 'out', 'report.md.units.csv');
    expect(readUnitsCsv(merged)).toHaveLength(UNITS);
    expect(new Set(dataLines(merged).map((l) => l.split(',').slice(0, 4).join(','))).size).toBe(UNITS);
  }, 600_000);
});
