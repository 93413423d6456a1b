// Writes the KS power tables that ship with the package (meta/ks-power/), one per shape of
// src/analyze/ks-power-shipped.ts, simulated from scratch on all cores; files of other names
// there (another version or shape) are removed. Run after a change that alters the table
// (and bumps KS_POWER_VERSION): `npm run build && node scripts/make-ks-power-table.mjs`.
// `--check` writes nothing and exits 1 if a shipped file differs from the simulation.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import os from 'node:os';
import { createUnitPool } from '../dist/analyze/pool.js';
import { powerChunks, powerRows } from '../dist/analyze/ks-power.js';
import { powerTableName, shippedPowerTablePath, writePowerTableFile } from '../dist/analyze/ks-power-cache.js';
import { shippedPowerShapes } from '../dist/analyze/ks-power-shipped.js';

const check = process.argv.includes('--check');
const cores = os.availableParallelism?.() ?? os.cpus().length;
const pool = createUnitPool(cores);
let differ = 0;
try {
  const shapes = shippedPowerShapes();
  for (const { name, params } of shapes) {
    const started = performance.now();
    // chunks of one draw: the pool's workers (or this thread) take them in turn; each draw has its own seed
    const chunks = powerChunks(params.draws, 1);
    const hits = await Promise.all(chunks.map((c) => pool.runPower(params, c, 1)));
    const rows = powerRows(params, chunks, hits);
    const path = shippedPowerTablePath(params);
    let before;
    try { before = readFileSync(path, 'utf8'); } catch { before = undefined; }
    if (check) {
      const same = before !== undefined && JSON.stringify(JSON.parse(before).rows) === JSON.stringify(rows);
      if (!same) differ++;
      console.log(`${same ? 'same' : 'DIFFERS'}: ${basename(path)} (${name})`);
    } else {
      writePowerTableFile(path, params, rows);
      console.log(`wrote ${path} (${name}; ${((performance.now() - started) / 1000).toFixed(1)} s on ${Math.max(pool.threads, 1)} thread(s)): ` +
        rows.map((r) => `${r.pct} %`).join(' / '));
    }
  }
  const dir = dirname(shippedPowerTablePath(shapes[0].params));
  const keep = new Set(shapes.map((s) => powerTableName(s.params)));
  for (const file of readdirSync(dir)) {
    if (keep.has(file)) continue;
    if (check) { differ++; console.log(`STALE: ${file}`); } else { rmSync(`${dir}/${file}`); console.log(`removed ${file}`); }
  }
} finally {
  await pool.close();
}
process.exitCode = differ > 0 ? 1 : 0;
