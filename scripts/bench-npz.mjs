// npz I/O on a corpus-shaped file (hidden [32,1024,4096] + queries [32,32,1024,128] float16,
// 536 MB) against numpy's np.savez / np.load in the same run. Files live in the OS temp
// folder; reads are from the page cache for both, so this compares the code, not the disk.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNpzWriter, openNpz } from '../dist/npz/index.js';

const HIDDEN = [32, 1024, 4096];
const QUERIES = [32, 32, 1024, 128];
const REPEATS = 3;

function fill(n, seed) {
  const a = new Uint16Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 16) & 0x7bff; // finite halves
  }
  return a;
}

const best = (xs) => Math.min(...xs);

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'poc-bench-npz-'));
  try {
    const hidden = fill(HIDDEN.reduce((a, b) => a * b), 1);
    const queries = fill(QUERIES.reduce((a, b) => a * b), 2);
    const ours = join(dir, 'ours.npz');
    const writeTimes = [];
    for (let r = 0; r < REPEATS; r++) {
      rmSync(ours, { force: true });
      const t0 = performance.now();
      const w = await createNpzWriter(ours);
      // streamed per layer, as capture writes it
      const hs = await w.begin('hidden', 'float16', HIDDEN);
      const layerH = HIDDEN[1] * HIDDEN[2];
      for (let l = 0; l < HIDDEN[0]; l++) await hs.write(hidden.subarray(l * layerH, (l + 1) * layerH));
      await hs.end();
      const qs = await w.begin('queries', 'float16', QUERIES);
      await qs.write(queries);
      await qs.end();
      await w.close();
      writeTimes.push((performance.now() - t0) / 1000);
    }
    const fileMB = statSync(ours).size / 1e6;
    const queriesMB = queries.byteLength / 1e6;
    const readTimes = [];
    for (let r = 0; r < REPEATS; r++) {
      const t0 = performance.now();
      const rd = await openNpz(ours);
      const q = await rd.read('queries');
      await rd.close();
      readTimes.push((performance.now() - t0) / 1000);
      if (q.data.length !== queries.length || q.data[12345] !== queries[12345]) throw new Error('read back wrong data');
    }
    const py = spawnSync('/usr/bin/python3', ['-c', `
import numpy as np, time, sys, os
d = sys.argv[1]
rng = np.random.default_rng(0)
hidden = (rng.integers(0, 0x7bff, size=${HIDDEN.reduce((a, b) => a * b)}, dtype=np.uint16)).view(np.float16).reshape(${HIDDEN.join(',')})
queries = (rng.integers(0, 0x7bff, size=${QUERIES.reduce((a, b) => a * b)}, dtype=np.uint16)).view(np.float16).reshape(${QUERIES.join(',')})
p = os.path.join(d, 'np.npz')
w, r_all, r_q = [], [], []
for _ in range(${REPEATS}):
    if os.path.exists(p): os.remove(p)
    t = time.perf_counter(); np.savez(p, hidden=hidden, queries=queries)
    # fsync like ours, so both pay for durability
    fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.close(fd)
    w.append(time.perf_counter() - t)
for _ in range(${REPEATS}):
    t = time.perf_counter(); z = np.load(p); a = {k: z[k] for k in z.files}; r_all.append(time.perf_counter() - t)
    t = time.perf_counter(); z = np.load(p); q = z['queries']; r_q.append(time.perf_counter() - t)
print(min(w), min(r_all), min(r_q))
`, dir], { encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`numpy side failed: ${py.stderr}`);
    const [npWrite, npReadAll, npReadQ] = py.stdout.trim().split(/\s+/).map(Number);
    const row = (label, mb, oursS, npS, npMb = mb) =>
      `| ${label} | ${(mb / oursS).toFixed(0)} MB/s (${oursS.toFixed(3)} s) | ${(npMb / npS).toFixed(0)} MB/s (${npS.toFixed(3)} s) | ${(npS / oursS).toFixed(2)}x |`;
    console.log(`file ${fileMB.toFixed(0)} MB (queries ${queriesMB.toFixed(0)} MB); best of ${REPEATS}; CRC-32 verified on read by both`);
    console.log('| operation | poc | numpy 1.24 | numpy time / poc time |');
    console.log('|---|---|---|---|');
    console.log(row('write whole file (fsync)', fileMB, best(writeTimes), npWrite));
    console.log(row('poc reads `queries`; numpy loads every field', queriesMB, best(readTimes), npReadAll, fileMB));
    console.log(row('read `queries` only, both', queriesMB, best(readTimes), npReadQ));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
