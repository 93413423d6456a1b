// Benchmark of the Gaussian-mixture engine: the K = 1..kMax full-covariance BIC sweep on a
// planted 5-component overlapping anisotropic mixture (4096 x 128, float32), ours against
// scikit-learn's GaussianMixture (Debian /usr/bin/python3, OpenBLAS on all cores) on the
// same data with the same K range, n_init, tol, max_iter and absolute reg_covar.
// Environment: GMM_BENCH_N, GMM_BENCH_D, GMM_BENCH_KMAX, GMM_BENCH_SEP, GMM_BENCH_REPS.
import { spawn, spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitGmm, sweepK } from '../dist/stats/gmm.js';
import { plantedMixture, sampleGmm } from '../dist/stats/gmm-sample.js';
import { columnBlocks, E_BLOCKS, M_BLOCKS } from '../dist/stats/kernels/ort.js';

// this machine's float32 GEMM peak, measured in the same run: numpy (OpenBLAS) on all cores
const SGEMM_PEAK = `
import time, numpy as np
a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
best = min((lambda t: (a @ a, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
print(2 * 2048 ** 3 / best / 1e9)
`;
const UNITS = 16640;

// local optima: with n_init 1 either side can land in a worse one; compare the spread over seeds
const SKLEARN_SEEDS = `
import sys, numpy as np
from sklearn.mixture import GaussianMixture
n, d, k, reg, seeds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, d)
print(' '.join('%.4f' % GaussianMixture(k, reg_covar=reg, random_state=s).fit(X).score(X) for s in range(seeds)))
`;

// the timed region is the fits alone (their final E-step included, as ours): score and bic
// are each another pass over the data, taken after the clock stops; best of `reps` sweeps
const SKLEARN = `
import json, sys, time, numpy as np
from sklearn.mixture import GaussianMixture
n, d, kmax, reg, tol, max_iter, n_init = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
reps = int(sys.argv[9]) if len(sys.argv) > 9 else 1
X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, d)
best = float('inf')
for _ in range(reps):
    t = time.perf_counter()
    gs = [GaussianMixture(k, covariance_type='full', reg_covar=reg, tol=tol, max_iter=max_iter, n_init=n_init, random_state=0).fit(X) for k in range(1, kmax + 1)]
    best = min(best, time.perf_counter() - t)
out = [dict(k=k + 1, ll=float(g.score(X)), bic=float(g.bic(X)), n_iter=int(g.n_iter_)) for k, g in enumerate(gs)]
print(json.dumps(dict(seconds=best, fits=out)))
`;

// a worker sweeps its own copy of the data with a single onnxruntime thread: the corpus mode,
// one unit per core, no intra-op synchronisation
const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
const { sweepK } = await import(workerData.gmm);
const res = await sweepK({ data: workerData.data, rows: workerData.n, cols: workerData.d }, { ...workerData.opts, threads: 1 });
parentPort.postMessage({ seconds: res.seconds, lls: res.fits.map((f) => f.meanLogLikelihood) });
`;

async function concurrentSweeps(count, X, n, d, opts) {
  const gmm = new URL('../dist/stats/gmm.js', import.meta.url).href;
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, type: 'module', workerData: { gmm, data: X.data.slice(), n, d, opts } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  return { wall: (performance.now() - started) / 1000, results };
}

/** `count` scikit-learn sweeps at once, each in its own single-threaded python: sklearn's own corpus mode. */
async function concurrentSklearn(count, args) {
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', SKLEARN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`scikit-learn run failed: ${err}`))));
  })));
  return (performance.now() - started) / 1000;
}

/** Floating-point work of one EM iteration at k components as full products (E-step X U, first moments, scatter). */
function flopsPerIteration(n, d, k) {
  return 2 * n * d * d * k /* X U */ + 2 * n * d * k /* R^T X */ + 2 * n * d * d * k /* scatter */;
}

/** The multiply-adds the blocked kernels actually run (U's zero blocks and the scatter's upper blocks skipped). */
function executedFlopsPerIteration(n, d, k, eCuts, mCuts) {
  let f = 2 * n * (d + 1) * k; // first moments
  for (let b = 0; b + 1 < eCuts.length; b++) {
    f += 2 * n * (eCuts[b + 1] + 1) * (eCuts[b + 1] - eCuts[b]) * k; // E-step block: prefix columns (+ offset row) x block
  }
  for (let b = 0; b + 1 < mCuts.length; b++) {
    f += 2 * n * (d - mCuts[b]) * (mCuts[b + 1] - mCuts[b]) * k; // M-step block: rows c_b..d of the scatter's block columns
  }
  return f;
}

export async function run() {
  const n = Number(process.env.GMM_BENCH_N ?? 4096);
  const d = Number(process.env.GMM_BENCH_D ?? 128);
  const kMax = Number(process.env.GMM_BENCH_KMAX ?? 10);
  const separation = Number(process.env.GMM_BENCH_SEP ?? 4);
  const reps = Number(process.env.GMM_BENCH_REPS ?? 5);
  const opts = { kMax, tol: 1e-3, maxIter: 100, nInit: 1, regCovar: 1e-6, seed: 0 };
  const truth = plantedMixture({ k: 5, d, separation, anisotropy: 0.7, weights: [3, 2, 2, 1.5, 1], seed: 11 });
  const { X } = sampleGmm(truth, n, 12, 'float32');
  console.log(`data: planted 5-mixture, ${n} x ${d} float32, separation ${separation}; sweep K = 1..${kMax}, tol ${opts.tol}, max_iter ${opts.maxIter}, n_init ${opts.nInit}`);
  console.log(`load average at start: ${os.loadavg().map((v) => v.toFixed(1)).join(' ')} (other work on the 2 cores slows both sides)`);

  const warm = { data: X.data.subarray(0, 256 * d), rows: 256, cols: d };
  // session creation and the sweep's worker threads outside the timing
  await sweepK(warm, { ...opts, kMax: 2 });
  await sweepK(warm, { ...opts, kMax: 2, workers: 1 });
  await sweepK(warm, { ...opts, kMax: 2, threads: 1 });
  const cores = os.cpus().length;
  // the full-size sweep once untimed: it gives the absolute reg_covar scikit-learn gets
  const reg = (await sweepK(X, opts)).fits[0].regCovarAbsolute;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-gmm-'));
  let sk;
  let sk_peak = NaN;
  let ours;
  let perUnit;
  let conc;
  // ours and scikit-learn alternate rep by rep, so a slow spell of this shared machine falls
  // on both sides; best and median of each are reported
  const times = { ours: [], inThread: [], oneThread: [], sk: [] };
  try {
    const file = path.join(dir, 'x.f32');
    writeFileSync(file, Buffer.from(X.data.buffer, X.data.byteOffset, X.data.byteLength));
    const args = [file, n, d, kMax, reg, opts.tol, opts.maxIter, opts.nInit].map(String);
    const peak = spawnSync('/usr/bin/python3', ['-c', SGEMM_PEAK], { encoding: 'utf8' });
    if (peak.status !== 0) throw new Error(`numpy sgemm run failed: ${peak.stderr}`);
    sk_peak = Number(peak.stdout.trim());
    for (let r = 0; r < reps; r++) {
      const res = await sweepK(X, opts); // default: the K values on one worker per core
      times.ours.push(res.seconds);
      if (!ours || res.seconds < ours.seconds) ours = res;
      const p = spawnSync('/usr/bin/python3', ['-c', SKLEARN, ...args, '1'], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`scikit-learn run failed (apt-get install python3-sklearn): ${p.stderr}`);
      sk = JSON.parse(p.stdout.trim().split('\n').pop());
      times.sk.push(sk.seconds);
      times.inThread.push((await sweepK(X, { ...opts, workers: 1 })).seconds);
      times.oneThread.push((await sweepK(X, { ...opts, threads: 1 })).seconds);
    }
    conc = await concurrentSweeps(cores, X, n, d, opts);
    perUnit = conc.wall / cores;
    sk.corpusWall = process.env.GMM_BENCH_SK_CORPUS === '0' ? NaN : await concurrentSklearn(os.cpus().length, args);
    const seedK = Math.min(6, kMax);
    const seeds = 5;
    const ps = spawnSync('/usr/bin/python3', ['-c', SKLEARN_SEEDS, file, n, d, seedK, reg, seeds].map(String), { encoding: 'utf8' });
    if (ps.status !== 0) throw new Error(`scikit-learn seed runs failed: ${ps.stderr}`);
    const skSeeds = ps.stdout.trim().split(' ').map(Number);
    const ourSeeds = [];
    for (let seed = 0; seed < seeds; seed++) ourSeeds.push((await fitGmm(X, { ...opts, k: seedK, seed })).meanLogLikelihood);
    const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    sk.seedLine = `K = ${seedK} over ${seeds} seeds, LL/sample: ours ${ourSeeds.map((v) => v.toFixed(2)).join(' ')} (median ${median(ourSeeds).toFixed(2)}); ` +
      `sklearn ${skSeeds.map((v) => v.toFixed(2)).join(' ')} (median ${median(skSeeds).toFixed(2)})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  let flops = 0;
  let executed = 0;
  const eCuts = columnBlocks(d, E_BLOCKS);
  const mCuts = columnBlocks(d, M_BLOCKS);
  // each fit: one M-step from the k-means labels, nIter E+M steps, one final E-step
  for (const f of ours.fits) {
    flops += (f.nIter + 1) * flopsPerIteration(n, d, f.k);
    executed += (f.nIter + 1) * executedFlopsPerIteration(n, d, f.k, eCuts, mCuts);
  }
  console.log('\n K | ours LL/sample  iters  BIC          | sklearn LL/sample iters  BIC');
  for (let i = 0; i < kMax; i++) {
    const a = ours.fits[i];
    const b = sk.fits[i];
    console.log(`${String(a.kRequested).padStart(2)} | ${a.meanLogLikelihood.toFixed(4).padStart(12)} ${String(a.nIter).padStart(5)}  ${a.bic.toFixed(0).padStart(10)}${a.k !== a.kRequested ? ` (k=${a.k})` : ''} | ${b.ll.toFixed(4).padStart(12)} ${String(b.n_iter).padStart(5)}  ${b.bic.toFixed(0).padStart(10)}`);
  }
  const bestSk = sk.fits.reduce((a, b) => (b.bic < a.bic ? b : a));
  const meanDiff = ours.fits.reduce((s, f, i) => s + f.meanLogLikelihood - sk.fits[i].ll, 0) / kMax;
  console.log(`\n${sk.seedLine}`);
  console.log(`best K (BIC): ours ${ours.bestK}, sklearn ${bestSk.k}; mean over K of (ours - sklearn) LL/sample: ${meanDiff.toFixed(4)} nats`);
  const bestOf = (v) => Math.min(...v);
  const medianOf = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  const show = (v) => `best ${bestOf(v).toFixed(2)}, median ${medianOf(v).toFixed(2)} (${v.map((x) => x.toFixed(2)).join(' ')})`;
  const oursSeconds = bestOf(times.ours);
  const skSeconds = bestOf(times.sk);
  const best = Math.min(oursSeconds, bestOf(times.oneThread), perUnit);
  console.log(`seconds per sweep over ${reps} alternating reps:`);
  console.log(`  ours, default (K values on ${Math.min(cores, kMax)} workers, 1 onnxruntime thread each): ${show(times.ours)}`);
  console.log(`  scikit-learn (OpenBLAS on ${cores} cores, fits only): ${show(times.sk)}`);
  console.log(`  ours in this thread, ${cores} onnxruntime threads: ${show(times.inThread)}; 1 thread: ${show(times.oneThread)}`);
  console.log(`  ours, ${cores} units at once (1 thread each): ${perUnit.toFixed(2)} per unit (wall ${conc.wall.toFixed(2)} s)`);
  const skPerUnit = sk.corpusWall / cores;
  console.log(`sklearn corpus mode: ${cores} single-threaded processes at once, wall ${sk.corpusWall.toFixed(2)} s = ${skPerUnit.toFixed(2)} s per unit`);
  console.log(`speed-up vs sklearn, single sweep on all cores: ${(skSeconds / oursSeconds).toFixed(2)}x best vs best, ${(medianOf(times.sk) / medianOf(times.ours)).toFixed(2)}x median vs median; ` +
    `corpus mode ours ${perUnit.toFixed(2)} vs sklearn ${skPerUnit.toFixed(2)} s per unit = ${(skPerUnit / perUnit).toFixed(2)}x`);
  console.log(`ours: EM products ${(flops / 1e9).toFixed(1)} GFLOP as full products, ${(executed / 1e9).toFixed(1)} GFLOP at most executed (the M-step skips rows with negligible responsibility, so fewer) (E-step blocks ${eCuts.join('/')}, M-step ${mCuts.join('/')}); ` +
    `at the best time that is ${(flops / best / 1e9).toFixed(1)} GFLOP/s effective, ${(executed / best / 1e9).toFixed(1)} GFLOP/s executed at most, ` +
    `vs this machine's sgemm peak ${sk_peak.toFixed(0)} GFLOP/s (numpy/OpenBLAS 2048^3 on ${cores} cores, same run)`);
  const skBest = Math.min(skSeconds, skPerUnit || Infinity);
  console.log(`projected corpus (${UNITS} units, one sweep each, this machine, this load): ours ${((best * UNITS) / 3600).toFixed(1)} h, sklearn ${((skBest * UNITS) / 3600).toFixed(1)} h`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
