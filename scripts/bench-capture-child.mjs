// One capture measurement in its own process, so its peak RSS is its own:
// node bench-capture-child.mjs MODEL_DIR N_TOKENS T_SUB CHUNK THREADS -> JSON on stdout
import { createCaptureSession, closeCaptureSession } from '../dist/model/session.js';
import { prefillCapture } from '../dist/capture/prefill.js';
import { samplePositions } from '../dist/capture/positions.js';

const [modelDir, nTokens, tSub, chunk, threads] = process.argv.slice(2);
const n = Number(nTokens);
const ids = new Int32Array(n);
for (let i = 0; i < n; i++) ids[i] = (i * 7919 + 13) % 500;
const positions = samplePositions(n, 16, Number(tSub), 0, 'bench', 0);
const session = await createCaptureSession(modelDir, { ep: 'cpu', threads: Number(threads), warn: () => {} });
// warm-up on a short prefix: session initialisation is not prefill speed
await prefillCapture(session, ids.subarray(0, 64), Int32Array.from([20]), 0);
const t0 = performance.now();
const buffers = await prefillCapture(session, ids, positions, Number(chunk));
const seconds = (performance.now() - t0) / 1000;
await closeCaptureSession(session);
console.log(JSON.stringify({ seconds, tokensPerSecond: n / seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, rows: buffers.queries.length }));
