import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { datasetInfo, HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { UserError } from '../errors.js';
import { blobPath, normalizeEtag, refPath, repoCacheDir, snapshotDir, type RepoRef } from './cache-layout.js';
import { SILENT_PROGRESS, stderrProgress, type Progress } from './progress.js';
import { hubSettingsFromEnv, type HubSettings } from './settings.js';

export interface DownloadOptions {
  repo: RepoRef;
  /** branch, tag or commit (default "main") */
  revision?: string;
  /** keep only the repo paths for which this is true (default: every file) */
  include?: (path: string) => boolean;
  /** default: hubSettingsFromEnv() */
  settings?: HubSettings;
  /** progress bar on stderr (default true) */
  progress?: boolean;
  /** the way out, appended to hub errors, e.g. "use --source synthetic" */
  hint?: string;
  /** attempts per file, each resuming where the last stopped (default 3) */
  attempts?: number;
}

export interface DownloadedFile {
  /** path inside the repo */
  path: string;
  /** snapshots/<commit>/<path> in the cache (a symlink to the blob) */
  localPath: string;
  sizeBytes: number;
  /** true when the complete blob was already in the cache */
  fromCache: boolean;
}

export interface DownloadResult {
  /** snapshots/<commit> folder: the repo's files at that commit */
  snapshotDir: string;
  commit: string;
  files: DownloadedFile[];
}

interface RemoteFile {
  path: string;
  sizeBytes: number;
  etag: string;
}

/**
 * Downloads the selected files of a hub repo into the standard cache layout; complete blobs
 * are never fetched again and partial ones resume with a range request.
 * Hub failures become one UserError line: what failed, then `hint`.
 */
export async function downloadRepoFiles(options: DownloadOptions): Promise<DownloadResult> {
  const settings = options.settings ?? hubSettingsFromEnv();
  const revision = options.revision ?? 'main';
  const include = options.include ?? (() => true);
  const repoDir = repoCacheDir(settings.cacheDir, options.repo);
  const what = `${options.repo.type} ${options.repo.name}`;
  if (settings.token !== undefined && !settings.token.startsWith('hf_')) {
    throw new UserError(`HF_TOKEN does not look like a hub token (it must start with "hf_")`);
  }
  if (settings.offline) {
    const cached = cachedSnapshot(repoDir, revision, include);
    if (cached) return cached;
    throw new UserError(`HF_HUB_OFFLINE is set and ${what}@${revision} is not in the cache at ${settings.cacheDir}${options.hint ? `; ${options.hint}` : ''}`);
  }
  let commit: string;
  let remote: RemoteFile[];
  try {
    ({ commit, remote } = await listRemote(options.repo, revision, include, settings));
  } catch (err) {
    const cached = cachedSnapshot(repoDir, revision, include);
    if (cached && !(err instanceof HubApiError)) {
      process.stderr.write(`poc: hub unreachable, using the cached snapshot ${cached.commit.slice(0, 12)} of ${what}\n`);
      return cached;
    }
    throw hubError(err, what, settings, options.hint);
  }
  if (remote.length === 0) throw new UserError(`no files of ${what} match the selection`);

  const snap = snapshotDir(repoDir, commit);
  const files: DownloadedFile[] = [];
  for (const file of remote) {
    const blob = blobPath(repoDir, file.etag);
    const localPath = join(snap, ...file.path.split('/'));
    let fromCache = isComplete(blob, file.sizeBytes);
    if (!fromCache) {
      const url = resolveUrl(settings.endpoint, options.repo, commit, file.path);
      const progress = options.progress === false ? SILENT_PROGRESS : undefined;
      try {
        await fetchBlob(url, blob, file, settings.token, options.attempts ?? 3, progress);
      } catch (err) {
        throw hubError(err, `${what} file ${file.path}`, settings, options.hint);
      }
    }
    await linkSnapshot(blob, localPath);
    files.push({ path: file.path, localPath, sizeBytes: file.sizeBytes, fromCache });
  }
  if (revision !== commit) {
    await mkdir(dirname(refPath(repoDir, revision)), { recursive: true });
    await writeFile(refPath(repoDir, revision), commit);
  }
  return { snapshotDir: snap, commit, files };
}

async function listRemote(repo: RepoRef, revision: string, include: (p: string) => boolean, settings: HubSettings) {
  const common = { hubUrl: settings.endpoint, ...(settings.token ? { accessToken: settings.token } : {}) };
  // pin the commit first so the listing and every file come from one snapshot
  const info = repo.type === 'dataset'
    ? await datasetInfo({ name: repo.name, revision, additionalFields: ['sha'], ...common })
    : await modelInfo({ name: repo.name, revision, additionalFields: ['sha'], ...common });
  const commit = (info as { sha?: unknown }).sha;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new Error(`the hub did not report a commit for ${repo.name}@${revision}`);
  }
  const remote: RemoteFile[] = [];
  for await (const entry of listFiles({ repo, revision: commit, recursive: true, ...common })) {
    if (entry.type !== 'file' || !include(entry.path)) continue;
    // huggingface_hub names a blob by its etag: the sha256 for LFS files, the git oid otherwise
    const etag = entry.lfs?.oid ?? entry.oid;
    if (!etag) throw new Error(`the hub listed ${entry.path} without an oid`);
    remote.push({ path: entry.path, sizeBytes: entry.lfs?.size ?? entry.size, etag: normalizeEtag(etag) });
  }
  remote.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { commit, remote };
}

function resolveUrl(endpoint: string, repo: RepoRef, commit: string, path: string): string {
  const prefix = repo.type === 'dataset' ? 'datasets/' : '';
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${prefix}${repo.name}/resolve/${commit}/${encoded}`;
}

function isComplete(path: string, sizeBytes: number): boolean {
  try {
    return statSync(path).size === sizeBytes;
  } catch {
    return false;
  }
}

/**
 * Streams the file into blob.incomplete, resuming from its current length with an
 * open-ended range request (a 200 instead of 206 means the server restarted from byte 0),
 * then checks the size and, for sha256 etags, the content before renaming it into place.
 */
async function fetchBlob(url: string, blob: string, file: RemoteFile, token: string | undefined, attempts: number, progressOverride?: Progress) {
  const partial = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let have = 0;
    try {
      have = (await stat(partial)).size;
    } catch {
      have = 0;
    }
    if (have > file.sizeBytes) {
      await rm(partial, { force: true });
      have = 0;
    }
    const progress = progressOverride ?? stderrProgress(file.path, file.sizeBytes, have);
    try {
      if (have < file.sizeBytes) {
        const headers: Record<string, string> = {};
        if (token) headers.Authorization = `Bearer ${token}`;
        if (have > 0) headers.Range = `bytes=${have}-`;
        const res = await fetch(url, { headers, redirect: 'follow' });
        if (res.status === 416) {
          // our partial is already whole (or corrupt): start over next attempt
          await rm(partial, { force: true });
          throw new Error('server refused the resume range');
        }
        if (!res.ok) throw await apiError(res);
        const append = have > 0 && res.status === 206;
        const handle = await open(partial, append ? 'a' : 'w');
        try {
          if (!res.body) throw new Error('empty response body');
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            await handle.write(chunk);
            progress.advance(chunk.byteLength);
          }
        } finally {
          await handle.close();
        }
      }
      const size = (await stat(partial)).size;
      if (size !== file.sizeBytes) throw new Error(`received ${size} of ${file.sizeBytes} bytes`);
      if (/^[0-9a-f]{64}$/.test(file.etag) && (await sha256File(partial)) !== file.etag) {
        await rm(partial, { force: true });
        throw new Error('content does not match its sha256');
      }
      await rename(partial, blob);
      progress.done();
      return;
    } catch (err) {
      if (err instanceof HubApiError && err.statusCode < 500) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function apiError(res: Response): Promise<HubApiError> {
  const err = new HubApiError(res.url, res.status, res.headers.get('X-Request-Id') ?? undefined);
  let detail = '';
  try {
    const body = await res.text();
    const parsed = JSON.parse(body) as { error?: string };
    detail = parsed.error ?? '';
  } catch {
    detail = '';
  }
  err.message = `status ${res.status}${detail ? ` (${detail})` : ''}`;
  return err;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// Relative symlinks, as huggingface_hub makes them, so the cache folder can be moved.
async function linkSnapshot(blob: string, localPath: string): Promise<void> {
  await mkdir(dirname(localPath), { recursive: true });
  const target = relative(dirname(localPath), blob);
  try {
    if ((await readlink(localPath)) === target) return;
    await rm(localPath, { force: true });
  } catch {
    await rm(localPath, { force: true });
  }
  await symlink(target, localPath);
}

/** The snapshot refs/<revision> points at, with the selected files, if all are complete. */
function cachedSnapshot(repoDir: string, revision: string, include: (p: string) => boolean): DownloadResult | null {
  const ref = refPath(repoDir, revision);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : '';
  if (!commit) return null;
  const snap = snapshotDir(repoDir, commit);
  if (!existsSync(snap)) return null;
  const files: DownloadedFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const path = relative(snap, full).split(/[\\/]/).join('/');
        if (!include(path)) continue;
        try {
          files.push({ path, localPath: full, sizeBytes: statSync(full).size, fromCache: true });
        } catch {
          // dangling link: the blob was removed, treat as not cached
        }
      }
    }
  };
  walk(snap);
  return files.length > 0 ? { snapshotDir: snap, commit, files: files.sort((a, b) => (a.path < b.path ? -1 : 1)) } : null;
}

function hubError(err: unknown, what: string, settings: HubSettings, hint?: string): Error {
  if (err instanceof UserError) return err;
  const way = hint ? `; ${hint}` : '';
  if (err instanceof HubApiError) {
    if (err.statusCode === 401 || err.statusCode === 403) {
      const tokenNote = settings.token ? 'HF_TOKEN was refused' : 'set HF_TOKEN to a token with access';
      return new UserError(`the hub at ${settings.endpoint} denied access to ${what} (${err.statusCode}): ${tokenNote}${way}`);
    }
    if (err.statusCode === 404) {
      return new UserError(`${what} was not found on the hub at ${settings.endpoint} (404)${way}`);
    }
    return new UserError(`the hub at ${settings.endpoint} failed for ${what} (${err.statusCode})${way}`);
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const reason = e.cause?.code ?? e.cause?.message ?? e.message;
  return new UserError(`cannot download ${what} from the hub at ${settings.endpoint} (${reason})${way || '; set HF_ENDPOINT to a reachable mirror'}`);
}
