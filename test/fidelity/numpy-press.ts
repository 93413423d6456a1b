/**
 * The independent reference of the press simulation, in numpy (stdin: JSON list of units
 * {path, layer, head}; argv: group size, rope theta, ratios as JSON, optionally the llama3 rope_scaling as JSON).
 */
// Written from the formulas of the issue (kvpress's documented defaults), not from its code:
// the cache = the first n = T - round(0.2 T) sampled positions, its first 4 entries the sinks.
// expected_attention: per head, mean and covariance (divided by the count) of the pre-RoPE
// queries at cache entries 4.., the RoPE matrix averaged over positions last+1 .. last+512
// applied as mu' = R mu, S' = R S R^T, logits mu'.k/sqrt d + k S' k / (2d) over keys 4..,
// softmax per head, mean over the group, times |v|; sinks get the max + 1. novnorm: without
// |v|. oracle: mean over every future query (all heads, rotated to its own position) of its
// softmax attention over the cache, times |v|. A press keeps the int(n (1 - r)) top scores
// (ties to the lower index); error = median over queries of |o - o_kept| / |o|.
export const NUMPY_PRESS = `
import sys, json, math
import numpy as np
units, group, theta, ratios = json.load(sys.stdin), int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
scaling = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
def rope(x, p, inv):
    h = len(inv); c, s = np.cos(p * inv), np.sin(p * inv)
    return np.concatenate([x[..., :h] * c - x[..., h:] * s, x[..., h:] * c + x[..., :h] * s], axis=-1)
def rope_matrix(p, inv):
    d = 2 * len(inv); return np.stack([rope(e, p, inv) for e in np.eye(d)], axis=1)  # columns = R e_j
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, keepdims=True)
out = []
for u in units:
    z = np.load(u['path'], allow_pickle=False)
    Q = z['queries'][u['layer'], u['head'] * group:(u['head'] + 1) * group].astype(np.float64)
    K = z['keys'][u['layer'], u['head']].astype(np.float64); V = z['values'][u['layer'], u['head']].astype(np.float64)
    pos = z['positions'].astype(np.float64)
    g, T, d = Q.shape; nF = max(1, int(math.floor(0.2 * T + 0.5))); n = T - nF
    inv = 1.0 / theta ** (np.arange(0, d, 2) / d)
    if scaling:  # llama3 rope scaling, transformers' _compute_llama3_parameters
        f, lo, hi, old = scaling['factor'], scaling['low_freq_factor'], scaling['high_freq_factor'], scaling['original_max_position_embeddings']
        wl = 2 * math.pi / inv
        smooth = (old / wl - lo) / (hi - lo)
        mid = (wl <= old / lo) & (wl >= old / hi)
        inv = np.where(mid, (1 - smooth) * inv / f + smooth * inv, np.where(wl > old / lo, inv / f, inv))
    keys, vals = K[:n], V[:n]
    R = np.mean([rope_matrix(p, inv) for p in range(int(pos[n - 1]) + 1, int(pos[n - 1]) + 513)], axis=0)
    probs = np.zeros(n - 4)
    for h in range(g):
        X = Q[h, 4:n]; mu = X.mean(0); S = (X - mu).T @ (X - mu) / len(X)
        mu2, S2 = R @ mu, R @ S @ R.T
        k = keys[4:]
        probs += softmax(k @ mu2 / math.sqrt(d) + np.einsum('ni,ij,nj->n', k, S2, k) / (2 * d)) / g
    vn = np.linalg.norm(vals, axis=1)
    def with_sinks(s): return np.concatenate([np.full(4, s.max() + 1), s])
    fut = np.concatenate([rope(Q[h, n:], pos[n:, None], inv) for h in range(g)])
    A = softmax(fut @ keys.T / math.sqrt(d), axis=1)
    o = A @ vals
    scores = {'expected_attention': with_sinks(probs * vn[4:]), 'expected_attention_novnorm': with_sinks(probs), 'oracle': A.mean(0) * vn}
    res = {}
    for name, s in scores.items():
        order = np.argsort(-s, kind='stable')
        for r in ratios:
            kept = order[:max(1, int(n * (1 - r)))]
            m = A[:, kept].sum(1)
            ok = (A[:, kept] @ vals[kept]) / m[:, None]
            res['kept_%s@%s' % (name, r)] = sorted(kept.tolist())
            res['err_%s@%s' % (name, r)] = float(np.median(np.linalg.norm(o - ok, axis=1) / np.linalg.norm(o, axis=1)))
            res['mass_%s@%s' % (name, r)] = float(m.mean())
    out.append(res)
print(json.dumps(out))
`;
