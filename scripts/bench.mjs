#!/usr/bin/env node
// `npm run bench [area...]`: runs scripts/bench-<area>.mjs (all of them by default) against
// the built dist/ and prints each benchmark's table. Areas are independent; each states the
// machine it ran on.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const areas = readdirSync(dir)
  .filter((f) => /^bench-.+\.mjs$/.test(f))
  .map((f) => f.slice(6, -4))
  .filter((a) => wanted.length === 0 || wanted.includes(a));
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
for (const area of areas) {
  console.log(`\n## ${area}`);
  const mod = await import(new URL(`./bench-${area}.mjs`, import.meta.url).href);
  await mod.run();
}
