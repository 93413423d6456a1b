// `poc fidelity` on a planted corpus at the real unit shape (Llama-3.1-8B: head_dim 128,
// GQA groups of 4, T_sub 1024, llama3 RoPE over 16K positions): in layer 0 the heads of a
// group share one Gaussian, in layer 1 one planted 3-component mixture. Prints the fidelity table and the
// seconds per unit, ours vs a numpy/scikit-learn reference doing the same unit (truth,
// kvpress Gaussian, GaussianMixture BIC sweep, empirical).
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

const L = 2, KV = 2, GROUP = 4, D = 128, T = 1024, K_MAX = 6, PROMPTS = 2;
const ROPE = { theta: 500000, scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } };

async function writePlantedCorpus(dir) {
  const positions = Int32Array.from({ length: T }, (_, i) => 16 + Math.floor((i * (16384 - 16)) / T));
  const invFreq = invFreqOf({ headDim: D, theta: ROPE.theta, scaling: ROPE.scaling });
  for (let p = 0; p < PROMPTS; p++) {
    const queries = new Float32Array(L * KV * GROUP * T * D);
    const keys = new Float32Array(L * KV * T * D);
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
      }
    }
    await writeNpz(join(dir, corpusFileName('planted', p)), {
      queries: { dtype: 'float16', shape: [L, KV * GROUP, T, D], data: float32ToHalf(queries) },
      keys: { dtype: 'float16', shape: [L, KV, T, D], data: float32ToHalf(keys) },
      positions: { dtype: 'int32', shape: [T], data: positions },
      task: { dtype: 'unicode', shape: [], data: ['planted'] },
      prompt_idx: { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(p)) },
      k_len: { dtype: 'int64', shape: [], data: BigInt64Array.of(16384n) },
    });
  }
  await writeCorpusMeta(dir, {
    model: { name: 'planted', num_hidden_layers: L, num_attention_heads: KV * GROUP, num_key_value_heads: KV, head_dim: D, hidden_size: KV * GROUP * D, rope_theta: ROPE.theta, rope_scaling: ROPE.scaling },
    capture: { max_length: 16384, n_sink: 16, t_sub: T, seed: 0, source: 'planted', prompt_format: 'none', dtype: 'float16', with_keys: true },
    tool: { name: 'poc', version: 'bench' },
    tasks: { planted: Array.from({ length: PROMPTS }, (_, i) => i) },
  });
}

// one unit (layer 1, kv head 0, prompt 0) the same way in numpy + scikit-learn
const PY = `
import sys, json, math, time
import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture
path, kmax = sys.argv[1], int(sys.argv[2])
t0 = time.time()
z = np.load(path)
Q = z['queries'][1].astype(np.float64); K = z['keys'][1].astype(np.float64); pos = z['positions'].astype(np.float64)
nq, T, d = Q.shape; g = 4; nF = int(math.floor(0.2 * T + 0.5)); nS = T - nF; keys = K[0, :nS]
inv = 1.0 / 500000.0 ** (np.arange(0, d, 2) / d)
wl = 2 * math.pi / inv; sm = (8192 / wl - 1) / 3
inv = np.where(wl > 8192, inv / 8, np.where(wl < 2048, inv, (1 - sm) * inv / 8 + sm * inv))
P = np.zeros((d, d)); P[d // 2:, :d // 2] = np.eye(d // 2); P[:d // 2, d // 2:] = -np.eye(d // 2)
def R(p):
    a = p * np.concatenate([inv, inv]); return np.cos(a)[None, :] * np.eye(d) + np.sin(a)[None, :] * P
Rs = np.stack([R(p) for p in pos[nS:]]); Rbar = Rs.mean(0)
sel = Rs[((np.arange(32) + 0.5) * nF / 32).astype(int)]
def closed(mu, cov, Rm):
    m = mu @ Rm.T; c = Rm @ cov @ Rm.T
    return keys @ m / math.sqrt(d) + np.einsum('ni,ij,nj->n', keys, c, keys) / d / 2
for h in range(g):
    seen, fut = Q[h, :nS], Q[h, nS:]
    truth = logsumexp(np.einsum('fij,fj->fi', Rs, fut) @ keys.T / math.sqrt(d), axis=0)
    mu = seen.mean(0); c = seen - mu; gauss = closed(mu, c.T @ c / nS, Rbar)
    fits = [GaussianMixture(k, covariance_type='full', random_state=0).fit(seen) for k in range(1, kmax + 1)]
    best = min(fits, key=lambda f: f.bic(seen))
    mix = logsumexp([np.log(w) + closed(m, c, Rbar) for w, m, c in zip(best.weights_, best.means_, best.covariances_)], axis=0)
    emp = logsumexp(np.einsum('fij,sj->fsi', sel, seen).reshape(-1, d) @ keys.T / math.sqrt(d), axis=0)
print(json.dumps({'seconds': time.time() - t0}))
`;

export async function run() {
  const dir = mkdtempSync(join(os.tmpdir(), 'poc-bench-fidelity-'));
  try {
    await writePlantedCorpus(dir);
    const r = await runFidelity({ corpus: dir, out: join(dir, 'fidelity.md'), kMax: K_MAX, future: 0.2, keep: [0.1, 0.25, 0.5], progressStream: null });
    const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');
    const methods = Object.keys(r.summary.overall.medianRho);
    console.log(`planted corpus: ${r.rows.length} units of ${GROUP} heads x ${T} positions x d ${D}; layer 0 one Gaussian per group, layer 1 a 3-mixture per group (K <= ${K_MAX})`);
    console.log(`| group | ${methods.map((m) => `rho ${m}`).join(' | ')} | ${methods.map((m) => `recall@0.1 ${m}`).join(' | ')} | mean best K |`);
    for (const g of [r.summary.overall, ...r.summary.byLayer]) {
      console.log(`| ${g.group} | ${methods.map((m) => fmt(g.medianRho[m])).join(' | ')} | ${methods.map((m) => fmt(g.meanRecall[m][0])).join(' | ')} | ${fmt(g.meanBestK)} |`);
    }
    const ours = r.summary.meanSecondsPerUnit;
    const py = spawnSync('/usr/bin/python3', ['-c', PY, join(dir, corpusFileName('planted', 0)), String(K_MAX)], { encoding: 'utf8' });
    if (py.status !== 0) {
      console.log(`reference skipped: /usr/bin/python3 with numpy/scipy/scikit-learn failed (apt-get install python3-numpy python3-scipy python3-sklearn)\n${py.stderr}`);
      console.log(`ours: ${ours.toFixed(2)} s/unit`);
      return;
    }
    const ref = JSON.parse(py.stdout).seconds;
    console.log(`seconds per unit: ours ${ours.toFixed(2)} (all cores), numpy+scikit-learn reference ${ref.toFixed(2)}; ratio ref/ours ${(ref / ours).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
