import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
// plain JavaScript launcher helper (it runs before any build)
// @ts-expect-error no type declarations for bin/ensure-built.js
import { ensureBuilt } from '../../bin/ensure-built.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** npm's own warnings (e.g. `npm warn Unknown project config …`), whatever its casing. */
const NPM_WARNING = /^npm (warn|WARN|ERR|error)\b/m;

describe('install and launch through npm', () => {
  it('the project config turns install scripts off with a setting npm knows (no warning)', () => {
    const r = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('true');
    expect(r.stderr).not.toMatch(NPM_WARNING);
  });

  it('`npx poc --version` prints the version and no npm warning', () => {
    // npm 10's npx links the project into its cache and runs its `prepare` (tsc) there, whatever
    // ignore-scripts says: a copy of the project (its own npm config, launcher and build) keeps
    // that rebuild away from the dist/ other tests are loading. Hence also the long timeout.
    const copy = mkdtempSync(join(os.tmpdir(), 'poc-npx-'));
    try {
      for (const f of ['package.json', '.npmrc', 'tsconfig.json']) copyFileSync(join(ROOT, f), join(copy, f));
      for (const d of ['bin', 'dist']) cpSync(join(ROOT, d), join(copy, d), { recursive: true });
      for (const d of ['src', 'node_modules']) symlinkSync(join(ROOT, d), join(copy, d));
      const r = spawnSync('npx', ['poc', '--version'], { cwd: copy, encoding: 'utf8', timeout: 240_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(VERSION);
      expect(r.stderr).not.toMatch(NPM_WARNING);
    } finally {
      rmSync(copy, { recursive: true, force: true });
      removeNpxCacheEntries(copy);
    }
  }, 250_000);
});

/** npx records the project it ran in its cache (`<cache>/_npx/<hash>/`); drop the entries that name `dir`. */
function removeNpxCacheEntries(dir: string): void {
  const npx = join(process.env.npm_config_cache ?? join(os.homedir(), '.npm'), '_npx');
  if (!existsSync(npx)) return;
  const name = basename(dir);
  for (const entry of readdirSync(npx)) {
    const manifest = join(npx, entry, 'package.json');
    if (existsSync(manifest) && readFileSync(manifest, 'utf8').includes(name)) rmSync(join(npx, entry), { recursive: true, force: true });
  }
}

describe('first-run build (bin/ensure-built.js)', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'poc-build-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A minimal project: tsconfig, src/cli/main.ts, and this repository's TypeScript. */
  function project(name: string, mainTs: string): string {
    const root = join(dir, name);
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'node_modules'));
    symlinkSync(join(ROOT, 'node_modules', 'typescript'), join(root, 'node_modules', 'typescript'));
    writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', rootDir: 'src', types: [] }, include: ['src/**/*.ts'] }));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), mainTs);
    return root;
  }

  it('compiles src/ into dist/ once, leaves no temporary folder or lock, then warns when src/ is newer', () => {
    const root = project('ok', 'export const answer: number = 42;\n');
    const said: string[] = [];
    expect(ensureBuilt(root, (l: string) => said.push(l))).toBeUndefined();
    expect(readFileSync(join(root, 'dist', 'cli', 'main.js'), 'utf8')).toContain('answer = 42');
    expect(readdirSync(root).sort()).toEqual(['dist', 'node_modules', 'package.json', 'src', 'tsconfig.json']);
    expect(said).toEqual(['poc: compiling the CLI into dist/ (first run after npm ci; about 30 s)']);
    // built and up to date: silent, no rebuild
    said.length = 0;
    expect(ensureBuilt(root, (l: string) => said.push(l))).toBeUndefined();
    expect(said).toEqual([]);
    // a source file newer than the build: one warning, the old build still runs
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src', 'cli', 'main.ts'), later, later);
    expect(ensureBuilt(root, (l: string) => said.push(l))).toBeUndefined();
    expect(said).toEqual(['poc: warning: src/ changed since dist/ was built; run `npm run build` to use the changes']);
  });

  it('a type error fails the first build and leaves no dist/', () => {
    const root = project('bad', 'export const answer: number = "forty-two";\n');
    const said: string[] = [];
    expect(ensureBuilt(root, (l: string) => said.push(l))).toMatch(/compiling the CLI failed/);
    expect(said.join('\n')).toMatch(/TS2322/);
    expect(existsSync(join(root, 'dist'))).toBe(false);
    expect(readdirSync(root).some((f) => f.startsWith('dist'))).toBe(false);
  });

  it('an installed package (no src/) is left alone', () => {
    const root = join(dir, 'installed');
    mkdirSync(root);
    expect(ensureBuilt(root, () => { throw new Error('should say nothing'); })).toBeUndefined();
  });
});
