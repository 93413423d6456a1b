#!/usr/bin/env node
// Thin launcher for the CLI compiled to dist/. The repository's .npmrc sets ignore-scripts
// (onnxruntime-node's install step would fetch CUDA libraries), so `npm ci` compiles nothing:
// in a clone, the first run compiles src/ here, once.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './ensure-built.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = new URL('../dist/cli/main.js', import.meta.url);
const problem = ensureBuilt(root, (line) => process.stderr.write(`${line}\n`));
if (problem !== undefined || !existsSync(fileURLToPath(entry))) {
  process.stderr.write(`poc: ${problem ?? 'the CLI is not built; run `npm run build` in the poc folder'}\n`);
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
