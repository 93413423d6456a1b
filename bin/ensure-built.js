// Compiles src/ into dist/ on the first run in a clone (npm ci runs no scripts here: see
// .npmrc), and says when dist/ is older than src/. Plain JavaScript: it runs before any build.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** How long a second process waits for another one's first build (a Slurm array starting at once). */
const WAIT_FOR_OTHER_BUILD_MS = 10 * 60 * 1000;

/**
 * Makes sure `<root>/dist` holds the compiled CLI. Returns undefined when it does, else the
 * problem in one line. An installed package (no src/) is left alone. The build goes to a
 * temporary folder renamed into place, under a lock folder, so parallel first runs neither
 * build twice nor load half-written files.
 */
export function ensureBuilt(root, say) {
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  const entry = join(dist, 'cli', 'main.js');
  if (!existsSync(src)) return undefined;
  if (existsSync(entry)) {
    const tsconfig = join(root, 'tsconfig.json');
    const newestSource = Math.max(newestTsMtimeMs(src), existsSync(tsconfig) ? statSync(tsconfig).mtimeMs : 0);
    if (newestSource > statSync(entry).mtimeMs) say('poc: warning: src/ changed since dist/ was built; run `npm run build` to use the changes');
    return undefined;
  }
  const lock = join(root, 'dist.lock');
  try {
    mkdirSync(lock);
  } catch {
    return waitForOtherBuild(lock, entry);
  }
  try {
    if (existsSync(entry)) return undefined;
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc)) return 'the CLI is not built and TypeScript is missing; run `npm ci` (with dev dependencies), then `npm run build`';
    say('poc: compiling the CLI into dist/ (first run after npm ci; about 30 s)');
    const tmp = join(root, `dist.build-${process.pid}`);
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', tmp], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      say(`${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd());
      return 'compiling the CLI failed (the TypeScript errors are above); fix them, or check out a commit that builds';
    }
    rmSync(dist, { recursive: true, force: true });
    renameSync(tmp, dist);
    return undefined;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function waitForOtherBuild(lock, entry) {
  const until = Date.now() + WAIT_FOR_OTHER_BUILD_MS;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (existsSync(lock) && Date.now() < until) Atomics.wait(nap, 0, 0, 250);
  if (existsSync(entry)) return undefined;
  return existsSync(lock)
    ? `another process has been compiling the CLI for 10 minutes; if none is, remove ${lock}`
    : 'another process failed to compile the CLI; run `npm run build` to see why';
}

/** The newest modification time of the TypeScript sources (what `npm run build` compiles). */
function newestTsMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const t = statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}
