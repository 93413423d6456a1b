# The published corpus's collector, re-created for the benchmark: a PyTorch Llama (loaded from
# the same model.safetensors) whose self_attn modules carry forward pre-hooks that grab the
# attention input and apply q_proj to it at the sampled positions. One prefill pass, no_grad.
import json, math, resource, sys, time
import numpy as np
import torch

model_dir, n_tokens, t_sub, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = json.load(open(f"{model_dir}/config.json"))

def load_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16}[h["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(raw, dtype=dt, count=(b - a) // np.dtype(dt).itemsize, offset=8 + n + a).reshape(h["shape"]).astype(np.float32))
    return out

W = load_safetensors(f"{model_dir}/model.safetensors")
H, nq, nkv, d = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
eps = cfg["rms_norm_eps"]

def rope_inv_freq():
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    s = cfg.get("rope_scaling")
    if s and s.get("rope_type") == "llama3":
        lo, hi, f, orig = s["low_freq_factor"], s["high_freq_factor"], s["factor"], s["original_max_position_embeddings"]
        wl = 2 * math.pi / inv
        smooth = (orig / wl - lo) / (hi - lo)
        scaled = torch.where(wl > orig / lo, inv / f, inv)
        mid = (1 - smooth) * inv / f + smooth * inv
        inv = torch.where((wl <= orig / lo) & (wl >= orig / hi), mid, scaled)
    return inv

class RMSNorm(torch.nn.Module):
    def __init__(self, w): super().__init__(); self.w = w
    def forward(self, x): return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

def lin(name): 
    m = torch.nn.Linear(1, 1, bias=False); m.weight = torch.nn.Parameter(W[name], requires_grad=False); return m

def rot_half(x):
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat((-x2, x1), -1)

class Attn(torch.nn.Module):
    def __init__(self, l):
        super().__init__()
        p = f"model.layers.{l}.self_attn."
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (lin(p + n + ".weight") for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
    def forward(self, x, cos, sin):
        T = x.shape[1]
        q = self.q_proj(x).view(1, T, nq, d).transpose(1, 2)
        k = self.k_proj(x).view(1, T, nkv, d).transpose(1, 2)
        v = self.v_proj(x).view(1, T, nkv, d).transpose(1, 2)
        q, k = q * cos + rot_half(q) * sin, k * cos + rot_half(k) * sin
        k = k.repeat_interleave(nq // nkv, 1); v = v.repeat_interleave(nq // nkv, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf")).softmax(-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(1, T, nq * d))

class Layer(torch.nn.Module):
    def __init__(self, l):
        super().__init__()
        p = f"model.layers.{l}."
        self.input_layernorm = RMSNorm(W[p + "input_layernorm.weight"])
        self.post_attention_layernorm = RMSNorm(W[p + "post_attention_layernorm.weight"])
        self.self_attn = Attn(l)
        self.gate, self.up, self.down = (lin(p + "mlp." + n + ".weight") for n in ("gate_proj", "up_proj", "down_proj"))
    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        h = self.post_attention_layernorm(x)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))

layers = [Layer(l) for l in range(cfg["num_hidden_layers"])]
embed = W["model.embed_tokens.weight"]
ids = torch.tensor([(i * 7919 + 13) % 500 for i in range(n_tokens)])
rng = np.random.default_rng(0)
positions = torch.from_numpy(np.sort(rng.choice(np.arange(16, n_tokens), t_sub, replace=False)))
captured = {"hidden": [], "queries": []}
for l, layer in enumerate(layers):
    def hook(mod, args, l=l):
        x = args[0][0, positions]
        captured["hidden"].append(x.half())
        captured["queries"].append(mod.q_proj(x).half())
    layer.self_attn.register_forward_pre_hook(hook)

def run(n):
    inv = rope_inv_freq()
    t = torch.arange(n, dtype=torch.float32)
    ang = torch.outer(t, inv); emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    x = embed[ids[:n]][None]
    for layer in layers:
        x = layer(x, cos, sin)
    return x

with torch.no_grad():
    t0 = time.perf_counter()
    run(n_tokens)
    secs = time.perf_counter() - t0
print(json.dumps({"seconds": secs, "tokensPerSecond": n_tokens / secs, "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
