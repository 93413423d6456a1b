// Per-unit cost of `poc analyze` at the corpus's unit size (4096 x 128, K = 1..10, full
// covariance), ours vs a Python reference doing the same fits (scikit-learn GaussianMixture
// sweep + scipy gaussian_kde), plus the throughput on all cores through the worker pool and
// the projection for the 16,640-unit corpus.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { analyzeUnit } from '../dist/analyze/unit.js';
import { createEngine } from '../dist/analyze/engine.js';
import { createUnitPool } from '../dist/analyze/pool.js';
import { createRng } from '../dist/util/rng.js';

const N = 4096, D = 128, K_MAX = 10, CORPUS_UNITS = 16640;

/** A planted overlapping 5-component mixture with anisotropic components, 4 strata of 1024 rows. */
function plantedUnit(seed) {
  const rng = createRng(seed);
  const data = new Float32Array(N * D);
  const centres = Array.from({ length: 5 }, () => Float64Array.from({ length: D }, () => 3 * rng.normal()));
  const scales = Array.from({ length: 5 }, () => Float64Array.from({ length: D }, () => 0.5 + 2 * rng.next()));
  for (let i = 0; i < N; i++) {
    const c = rng.int(5);
    let prev = 0;
    for (let j = 0; j < D; j++) {
      prev = 0.5 * prev + rng.normal();
      data[i * D + j] = centres[c][j] + scales[c][j] * prev;
    }
  }
  const strata = Int32Array.from({ length: N }, (_, i) => Math.floor(i / 1024));
  return { X: { data, rows: N, cols: D }, strata };
}

function timedEngine(threads, times) {
  const e = createEngine({ threads });
  const wrap = (name, f) => async (...a) => { const t = performance.now(); try { return await f(...a); } finally { times[name] = (times[name] ?? 0) + (performance.now() - t) / 1000; } };
  return { sweep: wrap('sweep', e.sweep), logPdf: wrap('logPdf', e.logPdf), fitT: wrap('fitT', e.fitT), tLogPdf: wrap('tLogPdf', e.tLogPdf) };
}

const PY = `
import sys, time, json
import numpy as np
from sklearn.mixture import GaussianMixture
from scipy import stats
X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(${N}, ${D}).astype(np.float64)
rng = np.random.default_rng(0)
idx = rng.permutation(${N}); test = X[idx[:819]]; train = X[idx[819:]]
t = time.time()
bics = []
for k in range(1, ${K_MAX} + 1):
    g = GaussianMixture(k, covariance_type='full', tol=1e-3, max_iter=100, n_init=1, random_state=0).fit(train)
    bics.append(g.bic(train))
t_sweep = time.time() - t
t = time.time()
kde = stats.gaussian_kde(train.T, bw_method='silverman'); ll = kde.logpdf(test.T).mean()
t_kde = time.time() - t
print(json.dumps({'sweep': t_sweep, 'kde': t_kde, 'best_k': int(np.argmin(bics)) + 1}))
`;

export async function run() {
  const settings = { kMax: K_MAX, covariance: 'full', holdout: 0.2, alpha: 0.05, seed: 0 };
  const unit = plantedUnit(1);
  const cores = os.availableParallelism?.() ?? os.cpus().length;

  // one unit in this thread, onnxruntime on all cores; a first run outside the timing makes
  // the sessions and the sweep's worker threads (a corpus run pays that once)
  await analyzeUnit(unit.X, unit.strata, { task: 'bench', promptIdx: 0, layer: 0, head: 0 }, settings, timedEngine(cores, {}));
  const times = {};
  const t0 = performance.now();
  const r = await analyzeUnit(unit.X, unit.strata, { task: 'bench', promptIdx: 0, layer: 0, head: 0 }, settings, timedEngine(cores, times));
  const oneUnit = (performance.now() - t0) / 1000;
  const other = oneUnit - Object.values(times).reduce((s, x) => s + x, 0);
  console.log(`one unit ${N} x ${D}, K 1..${K_MAX} full, onnxruntime on ${cores} threads: ${oneUnit.toFixed(2)} s (best K ${r.bestK}, KS p ${r.ksP.toExponential(2)})`);
  console.log(`  sweep ${times.sweep.toFixed(2)} s, GMM log-pdf ${times.logPdf.toFixed(2)} s, Student-t ${(times.fitT + times.tLogPdf).toFixed(2)} s, KDE + PIT + modes + split ${other.toFixed(2)} s`);

  // throughput: `cores` workers, one onnxruntime thread each (what poc analyze does by default)
  const units = Array.from({ length: 2 * cores }, (_, i) => plantedUnit(10 + i));
  const pool = createUnitPool(cores);
  const t1 = performance.now();
  await Promise.all(units.map((u, i) => pool.run({ key: { task: 'bench', promptIdx: i, layer: 0, head: 0 }, X: u.X, strata: u.strata, settings: { ...settings, kernelThreads: 1 } })));
  await pool.close();
  const perUnit = (performance.now() - t1) / 1000 / units.length;
  console.log(`throughput with ${pool.threads} worker threads x 1 onnxruntime thread: ${perUnit.toFixed(2)} s/unit`);
  const best = Math.min(perUnit, oneUnit);
  console.log(`projected corpus (${CORPUS_UNITS} units): ${(best * CORPUS_UNITS / 3600).toFixed(1)} h on this machine`);

  // reference: scikit-learn sweep + scipy KDE on the same data (both cores through OpenBLAS)
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-analyze-'));
  try {
    const path = join(dir, 'x.f32');
    writeFileSync(path, Buffer.from(plantedUnit(1).X.data.buffer));
    const py = spawnSync('/usr/bin/python3', ['-c', PY, path], { encoding: 'utf8' });
    if (py.status !== 0) { console.log(`reference failed: ${py.stderr}`); return; }
    const ref = JSON.parse(py.stdout);
    console.log(`reference (scikit-learn sweep + scipy KDE, no Student-t): sweep ${ref.sweep.toFixed(2)} s (best K ${ref.best_k}), KDE ${ref.kde.toFixed(2)} s`);
    console.log(`ratio reference sweep / our sweep: ${(ref.sweep / times.sweep).toFixed(2)}x; reference (sweep + KDE) / our whole unit: ${((ref.sweep + ref.kde) / oneUnit).toFixed(2)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
