// Capture at Llama-3.1-8B's shape (`poc make-tiny-model --preset llama-3.1-8b`: hidden 4096,
// 32/8 heads, intermediate 14336, vocab 128,256, float16 weights), 4, 8 and 32 layers, one
// prompt of 4,096 and one of 16,384 tokens (1,024 sampled positions, 1024-token chunks, `stream` in the CLI's default chunks; the
// streamed prefill shortens them where their attention scores would pass 512 MiB): tokens/s,
// seconds per layer and peak RSS (the child's VmHWM) per prefill mode, each run in its own
// process in the CLI's environment (glibc's malloc defaults; POC_MALLOC_TUNE=1 for its opt-in settings). A mode whose estimated peak does not fit the memory
// available when the bench starts is reported with its estimate, not run. Last, the projected
// time of a full corpus (65 prompts of 16K) on this machine and in core-hours.
//
// Environment: POC_SCALE_MODELS=DIR holds (or receives) the models as DIR/L4, DIR/L8, DIR/L32
// (≈ 1 GB per layer + 2 GB, twice: safetensors and ONNX data; built when missing);
// POC_SCALE_DEPTHS, POC_SCALE_LENGTHS, POC_SCALE_MODES (comma lists) pick a subset;
// POC_SCALE_LOG=FILE appends each run's JSON as it finishes. A 32-layer 16K prompt takes about
// half an hour per mode on 2 cores. Run it alone: `flock /tmp/poc-bigmem.lock npm run bench scale`.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel, TINY_DEFAULTS } from '../dist/model/tiny/make-tiny-model.js';
import { findOnnxFile, readModelProto } from '../dist/model/graph/capture-graph.js';
import { ensureSliceGraphs } from '../dist/model/graph/layer-graphs.js';
import { availableMemoryBytes, weightBytes } from '../dist/model/runtime/weight-bytes.js';
import { streamChunk } from '../dist/capture/prefill/chunk-plan.js';
import { CAPTURE_MALLOC_ENV, MALLOC_OPT_IN } from '../dist/util/malloc-env.js';

/** The environment `poc capture` runs in: glibc's malloc defaults, unless POC_MALLOC_TUNE=1 asks for its relaunch settings (src/util/malloc-env.ts). */
const captureEnv = () => (process.env[MALLOC_OPT_IN] === '1' ? { ...process.env, ...CAPTURE_MALLOC_ENV } : { ...process.env });

const list = (name, fallback) => (process.env[name] ? process.env[name].split(',').map((x) => x.trim()) : fallback);
const DEPTHS = list('POC_SCALE_DEPTHS', ['4', '8', '32']).map(Number);
const LENGTHS = list('POC_SCALE_LENGTHS', ['4096', '16384']).map(Number);
const MODES = list('POC_SCALE_MODES', ['stream', 'layers', 'chunks', 'loop']);
const T_SUB = 1024;
/** sampled positions of an n-token prompt: 1024, or half the prompt for shorter ones */
const tSubFor = (n) => Math.min(T_SUB, Math.floor(n / 2));
const CHUNK = 1024;
const THREADS = availableParallelism();
const CORPUS_PROMPTS = 65;
const FULL_DEPTH = 32;
const GiB = 2 ** 30;
const gib = (b) => `${(b / GiB).toFixed(2)} GiB`;

function child(model, n, mode) {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, 'bench-capture-child.mjs'), model, String(n), String(tSubFor(n)), mode === 'stream' ? 'default' : String(CHUNK), String(THREADS), mode], {
      env: captureEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => { out += b; });
    p.stderr.on('data', (b) => { err += b; });
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${mode} on ${model} failed (${code}):\n${err}`))));
  });
}

/** What each mode holds at its peak, from the model's shapes: weights in onnxruntime, KV, residual, one chunk's scores (twice: softmax), rows. */
async function estimates(model, depth, n) {
  const { model: proto } = await readModelProto(await findOnnxFile(model));
  const all = weightBytes(proto).cpuResident;
  const slices = await ensureSliceGraphs(model, { withKeys: false });
  let oneLayer = 0;
  for (const p of slices.paths) oneLayer = Math.max(oneLayer, weightBytes((await readModelProto(p)).model).cpuResident);
  const g = slices.geometry;
  const kvLayer = 2 * n * g.nKvHeads * g.headDim * 2;
  const residual = Math.max(1, slices.residualWidth) * n * g.hiddenSize * 2;
  const scores = (chunk) => 2 * chunk * n * g.nHeads * 4;
  const rows = depth * tSubFor(n) * (g.hiddenSize + g.nHeads * g.headDim) * 2;
  return {
    stream: oneLayer + scores(streamChunk(undefined, n, g.nHeads)) + residual + kvLayer + rows,
    layers: all + scores(CHUNK) + residual + kvLayer + rows,
    chunks: all + scores(CHUNK) + depth * kvLayer + rows,
    loop: all + scores(CHUNK) + 2 * depth * kvLayer + rows,
  };
}

async function modelFor(root, depth) {
  const dir = join(root, `L${depth}`);
  if (!existsSync(join(dir, 'config.json'))) {
    console.error(`building the ${depth}-layer Llama-3.1-8B-shape model in ${dir} …`);
    // float16 as `poc make-tiny-model --preset` writes it (the library's default dtype is float32)
    await makeTinyModel({ ...TINY_DEFAULTS, dtype: 'float16', preset: 'llama-3.1-8b', layers: depth, out: dir });
  }
  return dir;
}

export async function run() {
  // tens of GB of models and hours of CPU: only when asked for by name (`npm run bench scale`)
  if (!process.argv.slice(2).includes('scale') && fileURLToPath(import.meta.url) !== process.argv[1]) {
    console.log('skipped: builds ~45 GB of models and runs for hours; run `npm run bench scale` to include it');
    return;
  }
  const root = process.env.POC_SCALE_MODELS ?? join(process.env.POC_CACHE ?? '/tmp', 'poc-bench-scale');
  mkdirSync(root, { recursive: true });
  const available = availableMemoryBytes();
  // room left for the OS and the parent: a run estimated within 1 GiB of MemAvailable is not started
  const budget = available - GiB;
  console.log(`model: Llama-3.1-8B shape (hidden 4096, 32/8 heads, intermediate 14336, vocab 128256, float16), CPU provider, ${THREADS} threads; ${T_SUB} positions (half the prompt below 2048 tokens), chunk ${CHUNK}; MemAvailable at start ${gib(available)}`);
  console.log('| layers | tokens | mode | tokens/s | s per layer | peak RSS (VmHWM) | estimated peak | CPU s (sys) |');
  console.log('|---|---|---|---|---|---|---|---|');
  const results = [];
  for (const depth of DEPTHS) {
    const model = await modelFor(root, depth);
    for (const n of LENGTHS) {
      const est = await estimates(model, depth, n);
      for (const mode of MODES) {
        if (est[mode] > budget) {
          console.log(`| ${depth} | ${n} | ${mode} | does not fit | | | ${gib(est[mode])} | |`);
          results.push({ depth, n, mode, fits: false, estimate: est[mode] });
          continue;
        }
        const r = await child(model, n, mode);
        const row = { depth, n, mode, fits: true, estimate: est[mode], ...r };
        results.push(row);
        if (process.env.POC_SCALE_LOG) appendFileSync(process.env.POC_SCALE_LOG, JSON.stringify(row) + '\n');
        console.log(`| ${depth} | ${n} | ${mode} | ${r.tokensPerSecond.toFixed(0)} | ${(r.seconds / depth).toFixed(1)} | ${gib(r.vmHwmBytes)} | ${gib(est[mode])} | ${r.cpuSeconds.toFixed(0)} (${r.sysSeconds.toFixed(0)}) |`);
      }
    }
  }
  // a 16K prompt of the full model: measured at 32 layers, else per layer of the deepest 16K run x 32.
  // Wall time on a shared machine measures the other work too: CPU seconds / threads is the
  // time the prompt would take with the cores to itself (the prefill keeps both busy)
  console.log(`\nprojected full corpus (${CORPUS_PROMPTS} prompts of 16,384 tokens, ${FULL_DEPTH} layers), this machine (${THREADS} cores):`);
  console.log('| mode | CPU seconds per prompt | from | corpus hours, cores to itself (CPU s / threads) | corpus hours at the measured wall time | core-hours |');
  console.log('|---|---|---|---|---|---|');
  for (const mode of MODES) {
    const runs = results.filter((r) => r.mode === mode && r.fits && r.n === 16384).sort((a, b) => b.depth - a.depth);
    const from = runs[0];
    if (!from) {
      console.log(`| ${mode} | not measured at 16,384 tokens | | | | |`);
      continue;
    }
    const scale = from.depth === FULL_DEPTH ? 1 : FULL_DEPTH / from.depth;
    const cpu = from.cpuSeconds * scale;
    const wall = from.seconds * scale;
    const h = (s) => ((s * CORPUS_PROMPTS) / 3600).toFixed(1);
    console.log(`| ${mode} | ${cpu.toFixed(0)} | ${scale === 1 ? 'measured' : `${from.depth} layers x ${scale}`} | ${h(cpu / THREADS)} | ${h(wall)} | ${h(cpu)} |`);
  }
}

// `node scripts/bench-scale.mjs` alone (the bench runner imports run())
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
