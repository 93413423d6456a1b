import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pids of `pid`'s children (Linux /proc). */
function children(pid: number): number[] {
  const path = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    // a zombie still answers kill 0: read its state
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

describe.runIf(process.platform === 'linux')('poc capture relaunched with the malloc settings (POC_MALLOC_TUNE=1)', () => {
  let root = '';
  beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'poc-relaunch-')); });
  afterAll(async () => { await rm(root, { recursive: true, force: true }); });

  it('runs the capture in a child with the settings, which dies with its parent', async () => {
    const env = { ...process.env, POC_CACHE: join(root, 'cache'), POC_MALLOC_TUNE: '1' };
    delete env.POC_MALLOC_TUNED;
    const parent = spawn(process.execPath, [BIN, 'capture', '--task', 'vt', '--model', 'tiny', '--source', 'synthetic', '--max-length', '1200',
      '--t-sub', '64', '--prompts', '50', '--ep', 'cpu', '--out', join(root, 'out')], { env, stdio: 'ignore' });
    // the child, once it has exec'd node (before that its environment is the parent's copy)
    let child: number | undefined;
    let environ: string[] = [];
    for (let i = 0; i < 400 && !environ.includes(`POC_MALLOC_TUNED=${parent.pid}`); i++) {
      await sleep(50);
      child = children(parent.pid!)[0];
      try {
        environ = child === undefined ? [] : readFileSync(`/proc/${child}/environ`, 'utf8').split('\0');
      } catch {
        environ = [];
      }
    }
    expect(child, 'the relaunched capture').toBeDefined();
    expect(environ).toEqual(expect.arrayContaining(['MALLOC_ARENA_MAX=1', 'MALLOC_MMAP_MAX_=0', `MALLOC_TRIM_THRESHOLD_=${2 ** 40}`, `POC_MALLOC_TUNED=${parent.pid}`]));
    expect(readFileSync(`/proc/${parent.pid}/environ`, 'utf8')).not.toContain('MALLOC_MMAP_MAX_=0');
    const exited = new Promise((r) => parent.once('exit', r));
    parent.kill('SIGKILL');
    await exited;
    let gone = false;
    // killed as soon as the child has exec'd: it may not have started its watchdog yet, which
    // then finds its parent already gone; the watchdog thread looks twice a second
    for (let i = 0; i < 200 && !gone; i++) {
      await sleep(50);
      gone = !alive(child!);
    }
    expect(gone, 'the child after its parent was killed').toBe(true);
  }, 90_000);
});
