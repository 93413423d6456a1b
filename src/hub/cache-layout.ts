import { join } from 'node:path';

/** A repository on the hub: a model or a dataset, named "owner/name". */
export interface RepoRef {
  type: 'model' | 'dataset';
  name: string;
}

/**
 * Paths of the standard Hugging Face cache: <cache>/<type>s--owner--name/ holding
 * blobs/<etag>, snapshots/<commit>/<path> (symlinks into blobs) and refs/<revision>.
 */
export function repoCacheDir(cacheDir: string, repo: RepoRef): string {
  return join(cacheDir, [`${repo.type}s`, ...repo.name.split('/')].join('--'));
}

/** blobs/<etag> of a file: huggingface_hub names blobs by the etag without quotes or W/. */
export function blobPath(repoDir: string, etag: string): string {
  return join(repoDir, 'blobs', normalizeEtag(etag));
}

export function snapshotDir(repoDir: string, commit: string): string {
  return join(repoDir, 'snapshots', commit);
}

export function refPath(repoDir: string, revision: string): string {
  return join(repoDir, 'refs', revision);
}

/** '"abc"' and 'W/"abc"' -> 'abc' (LFS etags are the file's sha256). */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
