import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadRepoFiles } from '../../src/hub/download.js';
import { hubSettingsFromEnv, type HubSettings } from '../../src/hub/settings.js';
import { UserError } from '../../src/errors.js';
import { rulerParquet } from '../ruler/parquet-writer.js';
import { startMockHub, type MockHub } from './mock-hub.js';

const COMMIT = 'a'.repeat(39) + '1';
const rows = Array.from({ length: 40 }, (_, i) => ({
  context: `Some special magic numbers are hidden. ${'The grass is green. '.repeat(50)} row ${i}\n`,
  question: `What are all the special magic numbers for key-${i}? `,
  answer_prefix: 'The special magic numbers for it are',
  answer: [String(1000000 + i)],
  task: i < 20 ? 'niah_single_1' : 'vt',
  max_new_tokens: 128,
}));
const PARQUET = rulerParquet(rows);
const README = new TextEncoder().encode('# ruler test\n');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let hub: MockHub;
const tmp: string[] = [];
function settingsFor(url: string, token?: string): HubSettings {
  const cacheDir = mkdtempSync(join(tmpdir(), 'poc-hub-'));
  tmp.push(cacheDir);
  return { endpoint: url, token, cacheDir };
}
const repo = { type: 'dataset' as const, name: 'owner/ruler' };
const only16k = (p: string) => p.startsWith('16384/') || p === 'README.md';

beforeAll(async () => {
  hub = await startMockHub([{
    type: 'dataset', name: 'owner/ruler', commit: COMMIT, lfs: ['16384/part-0.parquet', '4096/part-0.parquet'],
    files: { '16384/part-0.parquet': PARQUET, '4096/part-0.parquet': PARQUET.slice(0, 100), 'README.md': README },
  }]);
});
afterAll(async () => {
  await hub.close();
  tmp.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

describe('hub downloader', () => {
  it('downloads into the standard cache layout, then serves the cache without re-downloading', async () => {
    const settings = settingsFor(hub.url);
    const first = await downloadRepoFiles({ repo, include: only16k, settings, progress: false });
    expect(first.commit).toBe(COMMIT);
    expect(first.files.map((f) => [f.path, f.fromCache])).toEqual([['16384/part-0.parquet', false], ['README.md', false]]);
    const repoDir = join(settings.cacheDir, 'datasets--owner--ruler');
    expect(first.snapshotDir).toBe(join(repoDir, 'snapshots', COMMIT));
    const pq = join(first.snapshotDir, '16384', 'part-0.parquet');
    expect(lstatSync(pq).isSymbolicLink()).toBe(true);
    expect(readlinkSync(pq)).toBe(join('..', '..', '..', 'blobs', sha256(PARQUET)));
    expect(Buffer.compare(readFileSync(pq), Buffer.from(PARQUET))).toBe(0);
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(existsSync(join(first.snapshotDir, '4096'))).toBe(false);

    const before = hub.requests.filter((r) => r.path.startsWith('/cdn/')).length;
    const second = await downloadRepoFiles({ repo, include: only16k, settings, progress: false });
    expect(second.files.every((f) => f.fromCache)).toBe(true);
    expect(hub.requests.filter((r) => r.path.startsWith('/cdn/')).length).toBe(before);
  });

  it('resumes an interrupted download with a range request', async () => {
    const settings = settingsFor(hub.url);
    const path = '16384/part-0.parquet';
    hub.dropAfter(path, 1000, 1);
    const start = hub.requests.length;
    // one attempt: the cut connection fails the call and leaves the partial blob behind
    await expect(downloadRepoFiles({ repo, include: (p) => p === path, settings, progress: false, attempts: 1 }))
      .rejects.toThrow(UserError);
    const partial = join(settings.cacheDir, 'datasets--owner--ruler', 'blobs', `${sha256(PARQUET)}.incomplete`);
    expect(statSync(partial).size).toBe(1000);
    const done = await downloadRepoFiles({ repo, include: (p) => p === path, settings, progress: false });
    const cdn = hub.requests.slice(start).filter((r) => r.path.startsWith('/cdn/'));
    expect(cdn.map((r) => r.range)).toEqual([undefined, 'bytes=1000-']);
    expect(Buffer.compare(readFileSync(done.files[0]!.localPath), Buffer.from(PARQUET))).toBe(0);
    expect(existsSync(partial)).toBe(false);

    // within one call, a cut is retried from where it stopped
    const settings2 = settingsFor(hub.url);
    hub.dropAfter(path, 2500, 1);
    const start2 = hub.requests.length;
    const again = await downloadRepoFiles({ repo, include: (p) => p === path, settings: settings2, progress: false });
    expect(hub.requests.slice(start2).filter((r) => r.path.startsWith('/cdn/')).map((r) => r.range)).toEqual([undefined, 'bytes=2500-']);
    expect(Buffer.compare(readFileSync(again.files[0]!.localPath), Buffer.from(PARQUET))).toBe(0);
  });

  it('turns a refused token, a missing repo and an unreachable hub into one clear line', async () => {
    const locked = await startMockHub([{ type: 'dataset', name: 'owner/ruler', commit: COMMIT, files: { 'README.md': README } }], 'hf_good');
    try {
      const bad = downloadRepoFiles({ repo, settings: settingsFor(locked.url, 'hf_bad'), progress: false, hint: 'use --source synthetic' });
      await expect(bad).rejects.toThrow(UserError);
      await expect(downloadRepoFiles({ repo, settings: settingsFor(locked.url, 'hf_bad'), progress: false, hint: 'use --source synthetic' }))
        .rejects.toThrow(/denied access to dataset owner\/ruler \(401\): HF_TOKEN was refused; use --source synthetic/);
      const ok = await downloadRepoFiles({ repo, settings: settingsFor(locked.url, 'hf_good'), progress: false });
      expect(ok.files).toHaveLength(1);
      expect(locked.requests.filter((r) => r.path.startsWith('/api/')).every((r) => r.auth?.startsWith('Bearer hf_'))).toBe(true);
    } finally {
      await locked.close();
    }
    await expect(downloadRepoFiles({ repo: { type: 'dataset', name: 'owner/nope' }, settings: settingsFor(hub.url), progress: false }))
      .rejects.toThrow(/dataset owner\/nope was not found on the hub at http:\/\/127\.0\.0\.1:\d+ \(404\)/);
    await expect(downloadRepoFiles({ repo, settings: settingsFor(hub.url, 'not-a-token'), progress: false }))
      .rejects.toThrow(/must start with "hf_"/);

    const gone = await startMockHub([]);
    const goneUrl = gone.url;
    await gone.close();
    await expect(downloadRepoFiles({ repo, settings: settingsFor(goneUrl), progress: false, hint: 'use --source synthetic' }))
      .rejects.toThrow(/cannot download dataset owner\/ruler from the hub at .*ECONNREFUSED.*; use --source synthetic/);
  });

  it('falls back to a complete cached snapshot when the hub is unreachable', async () => {
    const settings = settingsFor(hub.url);
    await downloadRepoFiles({ repo, include: only16k, settings, progress: false });
    const gone = await startMockHub([]);
    const goneUrl = gone.url;
    await gone.close();
    const offline = await downloadRepoFiles({ repo, include: only16k, settings: { ...settings, endpoint: goneUrl }, progress: false });
    expect(offline.commit).toBe(COMMIT);
    expect(offline.files.map((f) => f.path)).toEqual(['16384/part-0.parquet', 'README.md']);
    // HF_HUB_OFFLINE: no request at all, cache only
    const before = hub.requests.length;
    const cachedOnly = await downloadRepoFiles({ repo, include: only16k, settings: { ...settings, offline: true }, progress: false });
    expect(cachedOnly.files).toHaveLength(2);
    expect(hub.requests.length).toBe(before);
    await expect(downloadRepoFiles({ repo, settings: { ...settingsFor(hub.url), offline: true }, progress: false }))
      .rejects.toThrow(/HF_HUB_OFFLINE is set and dataset owner\/ruler@main is not in the cache/);
  });

  it('reads HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_CACHE like huggingface_hub', () => {
    expect(hubSettingsFromEnv({ HF_ENDPOINT: 'http://mirror/', HF_TOKEN: 'hf_x', HF_HOME: '/h' }))
      .toEqual({ endpoint: 'http://mirror', token: 'hf_x', cacheDir: join('/h', 'hub') });
    expect(hubSettingsFromEnv({ HF_HOME: '/h', HF_HUB_CACHE: '/c' }).cacheDir).toBe('/c');
    expect(hubSettingsFromEnv({}).endpoint).toBe('https://huggingface.co');
    expect(hubSettingsFromEnv({ HF_HUB_OFFLINE: '1' }).offline).toBe(true);
  });
});
