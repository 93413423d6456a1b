// Capture throughput and memory. (1) A mid-size random Llama (8 layers, hidden 1024, 16 heads,
// 4 kv heads, intermediate 2816, float32) prefilled over 4096 tokens with 1024 sampled
// positions: ours (onnxruntime-node CPU) chunk by chunk through all layers, layer by layer,
// layer by layer with a session per layer (stream), chunk by chunk inside one run (an ONNX
// Loop carrying the KV cache), and in one pass, against a PyTorch forward with pre-hooks on self_attn (Debian's torch
// 1.13), each in its own process. (2) Peak RSS against depth (4, 8, 16 layers) for the three
// prefill modes, on a model whose KV cache is large next to its weights (hidden 512, 8 kv
// heads, intermediate 1024), so the KV cache the host holds shows in the RSS.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel, TINY_DEFAULTS } from '../dist/model/tiny/make-tiny-model.js';
import { CAPTURE_MALLOC_ENV, MALLOC_OPT_IN } from '../dist/util/malloc-env.js';

/** The environment `poc capture` runs in: glibc's malloc defaults, unless POC_MALLOC_TUNE=1 asks for its relaunch settings (src/util/malloc-env.ts). */
const captureEnv = () => (process.env[MALLOC_OPT_IN] === '1' ? { ...process.env, ...CAPTURE_MALLOC_ENV } : { ...process.env });

const N_TOKENS = 4096;
const T_SUB = 1024;
const THREADS = availableParallelism();
const DEPTHS = [4, 8, 16];

function child(cmd, args) {
  // in the environment `poc capture` runs in (captureEnv)
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, env: captureEnv() });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const gib = (b) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'poc-bench-capture-'));
  const here = fileURLToPath(new URL('.', import.meta.url));
  const ours = (model, chunk, mode) => child(process.execPath, [join(here, 'bench-capture-child.mjs'), model, String(N_TOKENS), String(T_SUB), String(chunk), String(THREADS), mode]);
  try {
    const model = join(dir, 'mid');
    await makeTinyModel({ ...TINY_DEFAULTS, out: model, layers: 8, hidden: 1024, heads: 16, kvHeads: 4, intermediate: 2816, vocab: 512, seed: 1 });
    const runs = [
      ['chunks, one pass', 0, 'chunks'],
      ['chunks, chunk 1024', 1024, 'chunks'],
      ['layers, chunk 1024', 1024, 'layers'],
      ['stream, chunk 1024', 1024, 'stream'],
      ['stream, default chunk', 'default', 'stream'],
      ['loop, chunk 1024', 1024, 'loop'],
      ['chunks, chunk 2048', 2048, 'chunks'],
      ['layers, chunk 2048', 2048, 'layers'],
      ['stream, chunk 2048', 2048, 'stream'],
      ['loop, chunk 2048', 2048, 'loop'],
    ].map(([label, chunk, mode]) => [label, ours(model, chunk, mode)]);
    const torch = child('/usr/bin/python3', [join(here, 'bench-capture.py'), model, String(N_TOKENS), String(T_SUB), String(THREADS)]);
    console.log(`model: 8 layers, hidden 1024, 16/4 heads, intermediate 2816, float32; ${N_TOKENS} tokens, ${T_SUB} positions; ${THREADS} threads each`);
    console.log('| run | tokens/s | seconds | peak RSS | KV (+ residual) held on the host | tokens/s vs PyTorch | peak RSS vs PyTorch |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [label, r] of runs) {
      console.log(`| poc capture, ${label} | ${r.tokensPerSecond.toFixed(0)} | ${r.seconds.toFixed(2)} | ${gib(r.peakRssBytes)} | ${mib(r.hostKvBytes)}${r.ortKvBytes ? ` (KV ${mib(r.ortKvBytes)} inside onnxruntime)` : ''} | ${(r.tokensPerSecond / torch.tokensPerSecond).toFixed(2)}x | ${(r.peakRssBytes / torch.peakRssBytes).toFixed(2)}x |`);
    }
    console.log(`| PyTorch 1.13 eager + pre-hooks | ${torch.tokensPerSecond.toFixed(0)} | ${torch.seconds.toFixed(2)} | ${gib(torch.peakRssBytes)} | | 1.00x | 1.00x |`);

    console.log(`\nmodel: hidden 512, 8/8 heads, intermediate 1024, float32 (about ${mib(4 * (4 * 512 * 512 + 3 * 512 * 1024))} of weights and ${mib(2 * N_TOKENS * 512 * 4)} of KV per layer at ${N_TOKENS} tokens); chunk 1024`);
    console.log('| layers | chunks: peak RSS | chunks: KV held | chunks: tokens/s | layers: peak RSS | layers: KV + residual held | layers: tokens/s | stream: peak RSS | stream: tokens/s | loop: peak RSS | loop: tokens/s |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const depth of DEPTHS) {
      const m = join(dir, `deep${depth}`);
      await makeTinyModel({ ...TINY_DEFAULTS, out: m, layers: depth, hidden: 512, heads: 8, kvHeads: 8, intermediate: 1024, vocab: 512, seed: 2 });
      const c = ours(m, 1024, 'chunks');
      const l = ours(m, 1024, 'layers');
      const st = ours(m, 1024, 'stream');
      const p = ours(m, 1024, 'loop');
      console.log(`| ${depth} | ${gib(c.peakRssBytes)} | ${mib(c.hostKvBytes)} | ${c.tokensPerSecond.toFixed(0)} | ${gib(l.peakRssBytes)} | ${mib(l.hostKvBytes)} | ${l.tokensPerSecond.toFixed(0)} | ${gib(st.peakRssBytes)} | ${st.tokensPerSecond.toFixed(0)} | ${gib(p.peakRssBytes)} | ${p.tokensPerSecond.toFixed(0)} |`);
      rmSync(m, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
