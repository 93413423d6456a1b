import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStalePartials } from '../../src/capture/stale-partials.js';
import { withMetaLock } from '../../src/capture/meta-lock.js';
import { createAtomicFile } from '../../src/npz/atomic-file.js';
import { hostTag, parseTempSuffix } from '../../src/util/temp-name.js';

// Array tasks of one Slurm job write one corpus folder, possibly from several nodes whose
// pids overlap: these are the rules that keep them from undoing each other's work.

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'poc-shared-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A pid that is not running here: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('temporary files in a shared corpus folder', () => {
  it('name their writer: pid, a random part and this host', async () => {
    const dir = fresh();
    const a = await createAtomicFile(join(dir, 'prompt_vt__p0.npz'));
    const b = await createAtomicFile(join(dir, 'prompt_vt__p0.npz'));
    expect(a.tempPath).not.toBe(b.tempPath); // one process, two writers: still two files
    const suffix = a.tempPath.split('.partial-')[1]!;
    expect(parseTempSuffix(suffix)).toEqual({ pid: process.pid, host: hostTag() });
    await a.abort();
    await b.abort();
  });

  it('removeStalePartials judges local writers by pid and other hosts\' writers by age only', async () => {
    const dir = fresh();
    const dead = await deadPid();
    const name = (suffix: string) => join(dir, `.prompt_vt__p0.npz.partial-${suffix}`);
    const localDead = name(`${dead}-aa11@${hostTag()}`);
    const legacyDead = name(`${dead}-bb22`); // written before hosts were recorded: taken as local
    const localAlive = name(`${process.pid}-cc33@${hostTag()}`);
    const foreignFresh = name(`${dead}-dd44@another-node.cluster`); // that pid may well run on its node
    const foreignOld = name(`${process.pid}-ee55@another-node.cluster`);
    for (const p of [localDead, legacyDead, localAlive, foreignFresh, foreignOld]) writeFileSync(p, 'PK half written');
    const elevenMinutesAgo = (Date.now() - 11 * 60_000) / 1000;
    utimesSync(foreignOld, elevenMinutesAgo, elevenMinutesAgo);
    const removed = await removeStalePartials(dir);
    expect(removed.sort()).toEqual([localDead, legacyDead, foreignOld].sort());
    expect(readdirSync(dir).sort()).toEqual([localAlive, foreignFresh].map((p) => p.slice(dir.length + 1)).sort());
  });
});

describe('the meta.json lock', () => {
  it('serialises read-modify-write updates of many concurrent writers', async () => {
    const dir = fresh();
    const counter = join(dir, 'count');
    writeFileSync(counter, '0');
    await Promise.all(Array.from({ length: 20 }, () => withMetaLock(dir, async () => {
      const n = Number(readFileSync(counter, 'utf8'));
      await new Promise((r) => setTimeout(r, 2));
      writeFileSync(counter, String(n + 1));
    })));
    expect(readFileSync(counter, 'utf8')).toBe('20');
    expect(existsSync(join(dir, 'meta.json.lock'))).toBe(false);
  });

  it('takes over at once a lock left by a killed process of this host', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'meta.json.lock'), `${await deadPid()}-ab12@${hostTag()}\n`);
    const t0 = Date.now();
    expect(await withMetaLock(dir, async () => 'ran')).toBe('ran');
    // the two-minute rule for locks of other hosts did not apply
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('waits for a fresh lock of another host (its pid means nothing here) until it is released', async () => {
    const dir = fresh();
    const lock = join(dir, 'meta.json.lock');
    writeFileSync(lock, `1-ab12@another-node.cluster\n`);
    let ran = false;
    const waiting = withMetaLock(dir, async () => { ran = true; });
    await new Promise((r) => setTimeout(r, 400));
    expect(ran).toBe(false);
    rmSync(lock);
    await waiting;
    expect(ran).toBe(true);
  });
});
