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
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
