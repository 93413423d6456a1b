// Capture throughput and memory: a mid-size random Llama (8 layers, hidden 1024, 16 heads,
// 4 kv heads, intermediate 2816, float32) prefilled over 4096 tokens with 1024 sampled
// positions, ours (onnxruntime-node CPU, chunked through the KV cache) against a PyTorch
// forward with pre-hooks on self_attn (Debian's torch 1.13), each in its own process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel, TINY_DEFAULTS } from '../dist/model/make-tiny-model.js';

const N_TOKENS = 4096;
const T_SUB = 1024;
const THREADS = availableParallelism();

function child(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'poc-bench-capture-'));
  try {
    const model = join(dir, 'mid');
    await makeTinyModel({ ...TINY_DEFAULTS, out: model, layers: 8, hidden: 1024, heads: 16, kvHeads: 4, intermediate: 2816, vocab: 512, seed: 1 });
    const here = fileURLToPath(new URL('.', import.meta.url));
    const ours = {};
    for (const chunk of [0, 1024, 2048]) {
      ours[chunk] = child(process.execPath, [join(here, 'bench-capture-child.mjs'), model, String(N_TOKENS), String(T_SUB), String(chunk), String(THREADS)]);
    }
    const torch = child('/usr/bin/python3', [join(here, 'bench-capture.py'), model, String(N_TOKENS), String(T_SUB), String(THREADS)]);
    console.log(`model: 8 layers, hidden 1024, 16/4 heads, intermediate 2816, float32; ${N_TOKENS} tokens, ${T_SUB} positions; ${THREADS} threads each`);
    console.log('| run | tokens/s | seconds | peak RSS | tokens/s vs PyTorch | peak RSS vs PyTorch |');
    console.log('|---|---|---|---|---|---|');
    const gib = (b) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    for (const [chunk, r] of Object.entries(ours)) {
      console.log(`| poc capture, ${chunk === '0' ? 'one pass' : `chunk ${chunk}`} | ${r.tokensPerSecond.toFixed(0)} | ${r.seconds.toFixed(2)} | ${gib(r.peakRssBytes)} | ${(r.tokensPerSecond / torch.tokensPerSecond).toFixed(2)}x | ${(r.peakRssBytes / torch.peakRssBytes).toFixed(2)}x |`);
    }
    console.log(`| PyTorch 1.13 eager + pre-hooks | ${torch.tokensPerSecond.toFixed(0)} | ${torch.seconds.toFixed(2)} | ${gib(torch.peakRssBytes)} | 1.00x | 1.00x |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
