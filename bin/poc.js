#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('poc: the CLI is not built yet; run `npm ci` (or `npm run build`) in the poc folder\n');
  process.exit(2);
}
// a capture runs with glibc malloc settings that must be in place at process start (see src/util/malloc-env.ts)
const { wantsMallocRelaunch, relaunchWithMallocEnv, followParent } = await import(new URL('../dist/util/malloc-env.js', import.meta.url).href);
if (wantsMallocRelaunch(process.argv, process.env, process.platform)) {
  process.exitCode = await relaunchWithMallocEnv(process.argv);
} else {
  followParent();
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv);
}
