// `poc fidelity` per unit at the real unit shape (Llama-3.1-8B: head_dim 128, GQA groups of 4,
// T_sub 1024, llama3 RoPE over 16K positions), press simulation included, against a numpy +
// scikit-learn reference doing the same per-unit computation in the same run: the ranking
// (truth, kvpress Gaussian, per-position variants, BIC sweep K = 1..10 on the pooled group,
// per-head mixtures, empirical) and the press (attention of the future queries, seven scorers,
// kept sets at four ratios, output errors). A planted corpus: in layer 0 the heads of a group
// share one Gaussian, in layer 1 a 3-component mixture. Prints seconds per unit, the ratio,
// and the projection to 16,640 units (4096 x 128 per unit).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { writeNpz, float32ToHalf } from '../dist/npz/index.js';
import { writeCorpusMeta, corpusFileName } from '../dist/corpus/index.js';
import { plantedMixture, sampleGmm } from '../dist/stats/gmm-sample.js';
import { invFreqOf, rotateRowsToPositions } from '../dist/fidelity/rope.js';
import { runFidelity } from '../dist/fidelity/run.js';
import { createRng } from '../dist/util/rng.js';

const L = 2, KV = 2, GROUP = 4, D = 128, T = 1024, K_MAX = 10, PROMPTS = 2, REF_UNITS = 2, UNITS_16K = 16640;
const ROPE = { theta: 500000, scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } };

export async function writePlantedCorpus(dir) {
  const positions = Int32Array.from({ length: T }, (_, i) => 16 + Math.floor((i * (16384 - 16)) / T));
  const invFreq = invFreqOf({ headDim: D, theta: ROPE.theta, scaling: ROPE.scaling });
  for (let p = 0; p < PROMPTS; p++) {
    const queries = new Float32Array(L * KV * GROUP * T * D);
    const keys = new Float32Array(L * KV * T * D);
    const values = new Float32Array(L * KV * T * D);
    for (let l = 0; l < L; l++) {
      for (let g = 0; g < KV; g++) {
        for (let h = 0; h < GROUP; h++) {
          const qh = g * GROUP + h;
          const params = plantedMixture({ k: l === 0 ? 1 : 3, d: D, separation: 12, seed: 1000 * p + 100 * l + g });
          queries.set(sampleGmm(params, T, 7 + 1000 * p + 100 * l + qh, 'float32').X.data, ((l * KV * GROUP + qh) * T) * D);
        }
        // keys: pre-RoPE N(m, I) rotated to their positions, as a model's k_proj + RoPE would give
        const rng = createRng(5000 + 100 * p + 10 * l + g);
        const m = Float64Array.from({ length: D }, () => 0.5 * rng.normal());
        const pre = Float64Array.from({ length: T * D }, (_, i) => m[i % D] + rng.normal());
        keys.set(rotateRowsToPositions(pre, positions, invFreq), ((l * KV + g) * T) * D);
        // values: a shared direction plus noise, norms spread by a log-normal factor
        const shared = Float64Array.from({ length: D }, () => rng.normal());
        for (let t = 0; t < T; t++) {
          const scale = Math.exp(0.5 * rng.normal());
          for (let j = 0; j < D; j++) values[((l * KV + g) * T + t) * D + j] = scale * (0.5 * shared[j] + rng.normal());
        }
      }
    }
    await writeNpz(join(dir, corpusFileName('planted', p)), {
      queries: { dtype: 'float16', shape: [L, KV * GROUP, T, D], data: float32ToHalf(queries) },
      keys: { dtype: 'float16', shape: [L, KV, T, D], data: float32ToHalf(keys) },
      values: { dtype: 'float16', shape: [L, KV, T, D], data: float32ToHalf(values) },
      positions: { dtype: 'int32', shape: [T], data: positions },
      task: { dtype: 'unicode', shape: [], data: ['planted'] },
      prompt_idx: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(p)) },
      k_len: { dtype: 'int64', shape: [], data: BigInt64Array.of(16384n) },
    });
  }
  await writeCorpusMeta(dir, {
    model: { name: 'planted', num_hidden_layers: L, num_attention_heads: KV * GROUP, num_key_value_heads: KV, head_dim: D, hidden_size: KV * GROUP * D, rope_theta: ROPE.theta, rope_scaling: ROPE.scaling },
    capture: { max_length: 16384, n_sink: 16, t_sub: T, seed: 0, source: 'planted', prompt_format: 'none', dtype: 'float16', with_keys: true, with_values: true },
    tool: { name: 'poc', version: 'bench' },
    tasks: { planted: Array.from({ length: PROMPTS }, (_, i) => i) },
  });
}

// the same per-unit computation in numpy + scikit-learn, vectorised as a numpy user would write it
const PY = `
import sys, json, math, time
import numpy as np
from scipy.special import logsumexp, softmax
from scipy.stats import spearmanr
from sklearn.mixture import GaussianMixture
path, kmax, nunits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
z = np.load(path)
pos_all = z['positions'].astype(np.float64)
inv = 1.0 / 500000.0 ** (np.arange(0, 128, 2) / 128)
wl = 2 * math.pi / inv; sm = (8192 / wl - 1) / 3
inv = np.where(wl > 8192, inv / 8, np.where(wl < 2048, inv, (1 - sm) * inv / 8 + sm * inv))
def Rmat(p):
    d = 2 * len(inv); a = p * np.concatenate([inv, inv])
    P = np.zeros((d, d)); P[d // 2:, :d // 2] = np.eye(d // 2); P[:d // 2, d // 2:] = -np.eye(d // 2)
    return np.cos(a)[None, :] * np.eye(d) + np.sin(a)[None, :] * P
def rotate(X, p):  # rows of X to their positions p (rotate-half RoPE)
    a = p[:, None] * inv[None, :]; c, s = np.cos(a), np.sin(a); h = X.shape[1] // 2
    return np.concatenate([X[:, :h] * c - X[:, h:] * s, X[:, h:] * c + X[:, :h] * s], axis=1)
def closed(keys, logw, mus, covs, R):  # ln sum_j w_j exp(mu_j.R^T k / sqrt d + k R S_j R^T k / 2d)
    d = keys.shape[1]; M = keys @ R
    return logsumexp([lw + M @ mu / math.sqrt(d) + ((M @ S) * M).sum(1) / d / 2 for lw, mu, S in zip(logw, mus, covs)], axis=0)
def moments(X, r):
    w = r.sum(0); keep = w > 1e-9 * len(X); r = r[:, keep]; w = w[keep]
    mus = (r.T @ X) / w[:, None]
    covs = [((X - mu) * rj[:, None]).T @ (X - mu) / wj for mu, rj, wj in zip(mus, r.T, w)]
    return np.log(w / len(X)), mus, covs
def unit(layer, kv):
    Q = z['queries'][layer, kv * 4:(kv + 1) * 4].astype(np.float64)
    K = z['keys'][layer, kv].astype(np.float64); V = z['values'][layer, kv].astype(np.float64)
    g, T, d = Q.shape; nF = int(math.floor(0.2 * T + 0.5)); n = T - nF
    keys, vals, pos, fpos = K[:n], V[:n], pos_all[:n], pos_all[n:]
    Rs = np.stack([Rmat(p) for p in fpos]); Rbar = Rs.mean(0)
    sel = fpos[((np.arange(32) + 0.5) * nF / 32).astype(int)]; Rsel = [Rmat(p) for p in sel]
    pooled = Q[:, :n].reshape(-1, d)
    fits = [GaussianMixture(k, covariance_type='full', random_state=0).fit(pooled) for k in range(1, kmax + 1)]
    best = min(fits, key=lambda f: f.bic(pooled)); resp = best.predict_proba(pooled).reshape(g, n, -1)
    pred = {m: np.zeros(n) for m in ['truth', 'gaussian', 'gaussian_perpos', 'mixture', 'mixture_perpos', 'empirical']}
    fut = []
    for h in range(g):
        seen = Q[h, :n]; qf = rotate(Q[h, n:], fpos); fut.append(qf)
        pred['truth'] += softmax(logsumexp(qf @ keys.T / math.sqrt(d), axis=0)) / g
        mu = seen.mean(0); c = seen - mu; one = ([0.0], [mu], [c.T @ c / n])
        mix = moments(seen, resp[h])
        pred['gaussian'] += softmax(closed(keys, *one, Rbar)) / g
        pred['gaussian_perpos'] += softmax(logsumexp([closed(keys, *one, R) for R in Rsel], axis=0)) / g
        pred['mixture'] += softmax(closed(keys, *mix, Rbar)) / g
        pred['mixture_perpos'] += softmax(logsumexp([closed(keys, *mix, R) for R in Rsel], axis=0)) / g
        qe = np.concatenate([rotate(seen, np.full(n, p)) for p in sel])
        pred['empirical'] += softmax(logsumexp(qe @ keys.T / math.sqrt(d), axis=0)) / g
    rho = {m: spearmanr(pred['truth'], pred[m]).correlation for m in pred}
    # the press: kvpress statistics after 4 sinks, rotation averaged over the 512 positions after the cache
    S = 4; R512 = np.mean([Rmat(p) for p in np.arange(pos[-1] + 1, pos[-1] + 513)], axis=0)
    A = softmax(np.concatenate(fut) @ keys.T / math.sqrt(d), axis=1); o = A @ vals
    vn = np.linalg.norm(vals, axis=1)
    ea = np.zeros(n - S); mx = np.zeros(n - S); snap = np.zeros(n - 64)
    for h in range(g):
        st = Q[h, S:n]; mu = st.mean(0); c = st - mu; lg = closed(keys[S:], [0.0], [mu], [c.T @ c / len(st)], R512)
        ea += softmax(lg) / g
        mx += softmax(closed(keys[S:], *moments(st, resp[h, S:]), R512)) / g
        w = rotate(Q[h, n - 64:n], pos[n - 64:]) @ keys.T / math.sqrt(d)
        w[np.triu_indices(64, n - 63, n)] = -np.inf  # causal: window query j sees keys up to n - 64 + j
        snap += np.convolve(softmax(w, axis=1)[:, :n - 64].mean(0), np.ones(5) / 5, mode='same') / g
    pad = lambda s, front: np.concatenate([np.full(S, s.max() + 1), s]) if front else np.concatenate([s, np.full(64, s.max() + 1)])
    scores = {'expected_attention': pad(ea * vn[S:], True), 'expected_attention_mixture': pad(mx * vn[S:], True),
              'expected_attention_novnorm': pad(ea, True), 'snapkv': pad(snap, False),
              'streaming_llm': np.where(np.arange(n) < S, n + 1, np.arange(n)), 'random': np.random.RandomState(0).rand(n), 'oracle': A.mean(0) * vn}
    out = {}
    for name, s in scores.items():
        order = np.argsort(-s, kind='stable')
        for r in [0.25, 0.5, 0.75, 0.9]:
            kept = order[:max(1, int(n * (1 - r)))]; m = A[:, kept].sum(1)
            err = np.linalg.norm(o - (A[:, kept] @ vals[kept]) / m[:, None], axis=1) / np.linalg.norm(o, axis=1)
            out['err_%s@%s' % (name, r)] = float(np.median(err)); out['mass_%s@%s' % (name, r)] = float(m.mean())
    return best.n_components, rho, out
t0, c0 = time.time(), time.process_time()
for u in range(nunits): unit(1 - u % 2, u // 2 % 2)
print(json.dumps({'seconds': (time.time() - t0) / nunits, 'cpu': (time.process_time() - c0) / nunits}))
`;

export async function run() {
  const dir = mkdtempSync(join(os.tmpdir(), 'poc-bench-fidelity-'));
  try {
    await writePlantedCorpus(dir);
    const threads = os.availableParallelism();
    const cpu0 = process.cpuUsage();
    const r = await runFidelity({ corpus: dir, out: join(dir, 'fidelity.md'), kMax: K_MAX, future: 0.2, keep: [0.1, 0.25, 0.5], threads, progressStream: null });
    const cpu = process.cpuUsage(cpu0);
    const ours = r.seconds / r.rows.length;
    const oursCpu = (cpu.user + cpu.system) / 1e6 / r.rows.length;
    const phase = (k) => r.rows.reduce((s, x) => s + (x.phaseSeconds?.[k] ?? 0), 0) / r.rows.length;
    const fmt = (x) => (Number.isFinite(x) ? x.toFixed(4) : '-');
    console.log(`planted corpus: ${r.rows.length} units of ${GROUP} heads x ${T} positions x d ${D} with values; layer 0 one Gaussian per group, layer 1 a 3-mixture (K <= ${K_MAX})`);
    const p = r.summary.press;
    if (p) {
      console.log(`| group | ratio | ${Object.keys(p.overall.err).join(' | ')} |`);
      for (const g of [p.overall, ...p.byLayer]) p.ratios.forEach((ratio, i) => console.log(`| ${g.group} | ${ratio} | ${Object.values(g.err).map((e) => fmt(e[i].median)).join(' | ')} |`));
    }
    const py = spawnSync('/usr/bin/python3', ['-c', PY, join(dir, corpusFileName('planted', 0)), String(K_MAX), String(REF_UNITS)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (py.status !== 0) {
      console.log(`reference skipped: /usr/bin/python3 with numpy/scipy/scikit-learn failed (apt-get install python3-numpy python3-scipy python3-sklearn)\n${py.stderr}`);
      console.log(`ours: ${ours.toFixed(2)} s/unit`);
      return;
    }
    const { seconds: ref, cpu: refCpu } = JSON.parse(py.stdout);
    console.log(`seconds per unit (wall time / units): ours ${ours.toFixed(2)} on ${r.workerThreads || 1} worker thread(s) (${r.rows.length} units), ` +
      `numpy+scikit-learn reference ${ref.toFixed(2)} (OpenBLAS threads, ${REF_UNITS} units); ratio ref/ours ${(ref / ours).toFixed(2)}`);
    console.log(`CPU seconds per unit (all threads): ours ${oursCpu.toFixed(2)}, reference ${refCpu.toFixed(2)}; ratio ${(refCpu / oursCpu).toFixed(2)}`);
    console.log(`ours per unit inside a worker: mixture sweep ${phase('mixture').toFixed(2)} s, ranking ${phase('ranking').toFixed(2)} s, press ${phase('press').toFixed(2)} s`);
    console.log(`projected for ${UNITS_16K} units on this machine: ours ${(ours * UNITS_16K / 3600).toFixed(1)} h, reference ${(ref * UNITS_16K / 3600).toFixed(1)} h`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
