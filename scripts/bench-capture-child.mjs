// One capture measurement in its own process, so its peak RSS is its own:
// node bench-capture-child.mjs MODEL_DIR N_TOKENS T_SUB CHUNK THREADS [MODE] -> JSON on stdout
// MODE: chunks (default; chunk by chunk through all layers), layers (layer by layer), stream
// (layer by layer, one session per layer created and released in turn) or loop
// (chunk by chunk inside one onnxruntime run: the KV cache stays in onnxruntime).
import { readFileSync } from 'node:fs';
import { createCaptureSession, closeCaptureSession } from '../dist/model/runtime/session.js';
import { createLayerSession, closeLayerSession } from '../dist/model/runtime/layer-session.js';
import { createLoopSession, closeLoopSession, runLoopPrefill } from '../dist/model/runtime/loop-session.js';
import { prefillCapture } from '../dist/capture/prefill/chunks.js';
import { prefillByLayers, prefillByStreamingLayers } from '../dist/capture/prefill/layer-by-layer.js';
import { createStreamSession, closeStreamSession } from '../dist/model/runtime/stream-session.js';
import { samplePositions } from '../dist/capture/positions.js';
import { DEFAULT_CHUNK, streamChunk } from '../dist/capture/prefill/chunk-plan.js';

const [modelDir, nTokens, tSub, chunk, threads, mode = 'chunks'] = process.argv.slice(2);
const n = Number(nTokens);
const ids = new Int32Array(n);
for (let i = 0; i < n; i++) ids[i] = (i * 7919 + 13) % 500;
const positions = samplePositions(n, 16, Number(tSub), 0, 'bench', 0);
// POC_BENCH_ROWS=keys,values also captures those rows (their cost against hidden + queries alone)
const extraRows = (process.env.POC_BENCH_ROWS ?? '').split(',');
const opts = { ep: 'cpu', threads: Number(threads), warn: () => {}, withKeys: extraRows.includes('keys'), withValues: extraRows.includes('values') };
let run, close, hostKvBytes, ortKvBytes = 0;
if (mode === 'layers') {
  const s = await createLayerSession(modelDir, opts);
  run = async (x, p, c) => {
    const r = await prefillByLayers(s, x, p, c);
    hostKvBytes = r.hostBytes.kvBytes + r.hostBytes.residualBytes;
    return r.buffers;
  };
  close = () => closeLayerSession(s);
} else if (mode === 'stream') {
  const s = await createStreamSession(modelDir, opts);
  // each prompt creates its layers' sessions: that cost is part of the prefill, so it is timed
  run = async (x, p, c) => {
    // as the CLI does: long prompts take shorter chunks (their attention scores bounded), and
    // CHUNK "default" is the CLI's without --chunk
    const r = await prefillByStreamingLayers(s, x, p, streamChunk(c, x.length, s.geometry.nHeads));
    hostKvBytes = r.hostBytes.kvBytes + r.hostBytes.residualBytes;
    return r.buffers;
  };
  close = () => closeStreamSession(s);
} else if (mode === 'loop') {
  const s = await createLoopSession(modelDir, opts);
  run = (x, p, c) => runLoopPrefill(s, x, p, c);
  close = () => closeLoopSession(s);
  // nothing is carried on the JS side: the cache lives in onnxruntime's memory (the device's
  // on a GPU; on the CPU its arena, so it still counts in the RSS)
  hostKvBytes = 0;
  const g = s.geometry;
  ortKvBytes = g.nLayers * 2 * n * g.nKvHeads * g.headDim * 4; // the bench models are float32
} else {
  const s = await createCaptureSession(modelDir, opts);
  run = (x, p, c) => prefillCapture(s, x, p, c);
  close = () => closeCaptureSession(s);
  // what the chunked prefill holds between chunks: every layer's K and V for the prompt
  const g = s.geometry;
  hostKvBytes = g.nLayers * 2 * n * g.nKvHeads * g.headDim * (s.kvType === 'float16' ? 2 : 4);
}
// warm-up on a short prefix: session initialisation is not prefill speed
await run(ids.subarray(0, 64), Int32Array.from([20]), 64);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
// CHUNK "default": as the CLI without --chunk (stream: streamChunk's choice; the others DEFAULT_CHUNK)
const chunkArg = chunk === 'default' ? (mode === 'stream' ? undefined : DEFAULT_CHUNK) : Number(chunk);
const buffers = await run(ids, positions, chunkArg);
const seconds = (performance.now() - t0) / 1000;
// CPU time is steadier than wall time when other work shares the cores (spinning included)
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const sysSeconds = cpu.system / 1e6;
await close();
// VmHWM: the peak resident set of this process
const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ vmHwmBytes: hwm ? Number(hwm[1]) * 1024 : undefined, seconds, cpuSeconds, sysSeconds, tokensPerSecond: n / seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, hostKvBytes, ortKvBytes, rows: buffers.queries.length }));
