// Model layer numbers: capture-graph surgery (node counts, rewrite time, cache hit) on 2- and
// 8-layer tiny models of both export styles, and peak memory / time of one prefill through
// the capture graph (one pass, and 512-token chunks through the KV cache) vs the original
// export on the same prompt (each in its own process, so maxRSS is that session's alone).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;

const CHILD = `
import * as ort from 'onnxruntime-node';
const [mode, dir, T] = process.argv.slice(1);
const n = Number(T);
const { createCaptureSession, emptyKvCache, runChunk } = await import(${JSON.stringify(dist('model/runtime/session.js'))});
const ids = Array.from({ length: n }, (_, i) => (i * 7919) % 30000);
let ms;
if (mode === 'capture' || mode === 'chunked') {
  const s = await createCaptureSession(dir, { ep: 'cpu' });
  const positions = Array.from({ length: 256 }, (_, i) => Math.floor((i * n) / 256));
  const chunk = mode === 'chunked' ? 512 : n;
  const t = performance.now();
  let past = emptyKvCache(s);
  for (let start = 0; start < n; start += chunk) {
    const inChunk = positions.filter((p) => p >= start && p < start + chunk).map((p) => p - start);
    past = (await runChunk(s, { inputIds: ids.slice(start, start + chunk), capturePositions: inChunk, past })).present;
  }
  ms = performance.now() - t;
} else {
  const session = await ort.InferenceSession.create(dir + '/model.onnx', { intraOpNumThreads: 2 });
  const cfg = JSON.parse((await import('node:fs')).readFileSync(dir + '/config.json', 'utf8'));
  const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, cfg.num_key_value_heads, 0, cfg.head_dim]);
  const kv = { keys: Array.from({ length: cfg.num_hidden_layers }, empty), values: Array.from({ length: cfg.num_hidden_layers }, empty) };
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, n]),
  };
  kv.keys.forEach((k, l) => { feeds['past_key_values.' + l + '.key'] = k; feeds['past_key_values.' + l + '.value'] = kv.values[l]; });
  const t = performance.now();
  await session.run(feeds);
  ms = performance.now() - t;
}
console.log(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, ms }));
`;

export async function run() {
  const { makeTinyModel, TINY_DEFAULTS } = await import(dist('model/tiny/make-tiny-model.js'));
  const { ensureCaptureGraph } = await import(dist('model/graph/capture-graph.js'));
  const root = mkdtempSync(join(tmpdir(), 'poc-bench-model-'));
  try {
    console.log('| style | layers | nodes before | + capture | - dead | after | rewrite ms | cached ms |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const style of ['optimum', 'genai']) {
      for (const layers of [2, 8]) {
        const dir = join(root, `${style}-${layers}`);
        await makeTinyModel({ ...TINY_DEFAULTS, out: dir, style, layers, maxPosition: 4096 });
        const cold = await ensureCaptureGraph(dir, { withKeys: false });
        const warm = await ensureCaptureGraph(dir, { withKeys: false });
        const st = cold.stats;
        console.log(`| ${style} | ${layers} | ${st.nodesBefore} | ${st.nodesAdded} | ${st.nodesRemoved} | ${st.nodesAfter} | ${cold.rewriteMs.toFixed(1)} | ${warm.rewriteMs.toFixed(1)} |`);
      }
    }
    // a model where the lm_head matters: 32K vocab, prompt of 2048 tokens in one pass
    const dir = join(root, 'mem');
    const opts = { ...TINY_DEFAULTS, out: dir, layers: 4, hidden: 512, heads: 8, kvHeads: 2, intermediate: 1408, vocab: 32000, maxPosition: 4096 };
    await makeTinyModel(opts);
    const T = 2048;
    console.log(`\nprefill of ${T} tokens, 4 layers x hidden 512, vocab 32000, fp32, 2 threads (maxRSS of a fresh process):`);
    console.log('| graph | peak RSS MiB | run ms |');
    console.log('|---|---|---|');
    const res = {};
    for (const mode of ['original', 'capture', 'chunked']) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, mode, dir, String(T)], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
      if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
      res[mode] = JSON.parse(r.stdout.trim().split('\n').pop());
      const label = { original: 'original export, one pass', capture: 'capture graph, one pass', chunked: 'capture graph, 512-token chunks' }[mode];
      console.log(`| ${label} | ${res[mode].maxRssMiB.toFixed(0)} | ${res[mode].ms.toFixed(0)} |`);
    }
    console.log(`capture/original: memory ${(res.capture.maxRssMiB / res.original.maxRssMiB).toFixed(2)}x, time ${(res.capture.ms / res.original.ms).toFixed(2)}x; chunked/original: memory ${(res.chunked.maxRssMiB / res.original.maxRssMiB).toFixed(2)}x, time ${(res.chunked.ms / res.original.ms).toFixed(2)}x`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
