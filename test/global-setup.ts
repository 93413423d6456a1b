import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** CLI tests run bin/poc.js, which loads dist/: build it once so they never test stale code. */
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed, so the CLI cannot be tested:\n${r.stdout}${r.stderr}`);
}
