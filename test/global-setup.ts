import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** CLI tests run bin/poc.js, which loads dist/: build it once so they never test stale code. */
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  // tsc still emits on type errors; `npm ci` (prepare) is where type errors fail the build
  if (r.status !== 0) process.stderr.write(`warning: tsc reported errors; CLI tests run the emitted code:\n${r.stdout}${r.stderr}\n`);
}
