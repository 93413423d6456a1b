import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Hugging Face hub speaking the paths @huggingface/hub and our
 * downloader call: repo info (/api/<type>s/<id>/revision/<rev>), tree listing
 * (/api/<type>s/<id>/tree/<rev>), and /resolve/ with a redirect to a "CDN" path that honours
 * range requests. Big files are served as LFS (sha256 etag), small ones as git blobs.
 */
export interface MockRepo {
  type: 'model' | 'dataset';
  name: string;
  commit: string;
  files: Record<string, Uint8Array>;
  /** paths stored as LFS (etag = sha256) */
  lfs?: string[];
}

export interface MockRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
}

export interface MockHub {
  url: string;
  requests: MockRequest[];
  /** cut the connection after this many body bytes for the next `times` GETs of `path` */
  dropAfter(path: string, bytes: number, times: number): void;
  close(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export async function startMockHub(repos: MockRepo[], requiredToken?: string): Promise<MockHub> {
  const requests: MockRequest[] = [];
  const drops = new Map<string, { bytes: number; times: number }>();
  const byKey = new Map(repos.map((r) => [`${r.type}s/${r.name}`, r]));

  const json = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...extra });
    res.end(JSON.stringify(body));
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(u.pathname);
    requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, auth: req.headers.authorization });
    if (requiredToken !== undefined && req.headers.authorization !== `Bearer ${requiredToken}` && !path.startsWith('/cdn/')) {
      return json(res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    let m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(path);
    if (m) {
      const repo = byKey.get(`${m[1]}/${m[2]}`);
      if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return json(res, 200, {
        _id: 'x', id: repo.name, sha: repo.commit, private: false, downloads: 0, likes: 0, gated: false,
        lastModified: '2024-07-26T00:00:00.000Z', siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })),
      });
    }
    m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/tree\/([^/]+)(\/.*)?$/.exec(path);
    if (m) {
      const repo = byKey.get(`${m[1]}/${m[2]}`);
      if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      if (m[3] !== repo.commit && m[3] !== 'main') return json(res, 404, { error: 'Revision not found' }, { 'X-Error-Code': 'RevisionNotFound' });
      const dirs = new Set<string>();
      const entries: unknown[] = [];
      for (const [p, bytes] of Object.entries(repo.files)) {
        const parts = p.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
        const isLfs = repo.lfs?.includes(p);
        entries.push(isLfs
          ? { type: 'file', path: p, size: bytes.length, oid: gitOid(new TextEncoder().encode(`lfs ${p}`)), lfs: { oid: sha256(bytes), size: bytes.length, pointerSize: 134 } }
          : { type: 'file', path: p, size: bytes.length, oid: gitOid(bytes) });
      }
      for (const d of dirs) entries.push({ type: 'directory', path: d, size: 0, oid: gitOid(new TextEncoder().encode(d)) });
      return json(res, 200, entries);
    }
    m = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const repo = byKey.get(`${m[1] ? 'datasets' : 'models'}/${m[2]}`);
      if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      const bytes = repo.files[m[4]!];
      if (!bytes) return json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      const isLfs = repo.lfs?.includes(m[4]!);
      const etag = isLfs ? sha256(bytes) : gitOid(bytes);
      res.writeHead(302, {
        Location: `/cdn/${repo.type}s--${repo.name.replace('/', '--')}/${m[4]}`,
        'X-Repo-Commit': repo.commit,
        'X-Linked-Etag': `"${etag}"`,
        'X-Linked-Size': String(bytes.length),
        ETag: `"${etag}"`,
      });
      return res.end();
    }
    m = /^\/cdn\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const repo = byKey.get(m[1]!.replace('--', '/').replace('--', '/'));
      const bytes = repo?.files[m[2]!];
      if (!bytes) return json(res, 404, { error: 'not found' });
      let start = 0;
      let end = bytes.length - 1;
      let status = 200;
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), end) : end;
        if (start > end) {
          res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` });
          return res.end();
        }
        status = 206;
      }
      const body = bytes.subarray(start, end + 1);
      const headers: Record<string, string> = { 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', ETag: `"${sha256(bytes)}"` };
      if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`;
      res.writeHead(status, headers);
      const drop = drops.get(m[2]!);
      if (drop && drop.times > 0 && req.method === 'GET') {
        drop.times--;
        res.write(body.subarray(0, drop.bytes));
        // flush what was written, then cut the connection mid-body
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      return res.end(body);
    }
    json(res, 404, { error: 'unknown path' });
  };

  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropAfter(path, bytes, times) { drops.set(path, { bytes, times }); },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
