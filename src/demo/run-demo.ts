import { join } from 'node:path';
import { runAnalysis, type AnalyzeResult } from '../analyze/run.js';
import { runCapture, type CaptureResult } from '../capture/run-capture.js';
import { taskCatalog } from '../ruler/tasks.js';

/** Sizes of the offline demo: small enough for a 2-core laptop in a few minutes, big enough for every synthetic task. */
export const DEMO_SETTINGS = {
  promptsPerTask: 2,
  maxLength: 2048,
  nSink: 16,
  tSub: 256,
  chunk: 512,
  kMax: 6,
} as const;

export interface DemoOptions {
  out: string;
  threads?: number;
  signal?: AbortSignal;
  stderr?: { write(s: string): unknown; isTTY?: boolean };
}

export interface DemoResult {
  corpus: string;
  report: string;
  capture: CaptureResult;
  analysis: AnalyzeResult;
}

/**
 * `poc demo`, the built-in default job, fully offline: the tiny Llama (built once into the
 * cache), the 11 synthetic RULER tasks x 2 prompts captured into OUT/corpus, and the analysis
 * report OUT/report.md. Re-running resumes both stages.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const stderr = opts.stderr ?? process.stderr;
  const corpus = join(opts.out, 'corpus');
  const report = join(opts.out, 'report.md');
  stderr.write(`demo: capturing ${taskCatalog().synthetic_tasks.length} synthetic RULER tasks x ${DEMO_SETTINGS.promptsPerTask} prompts with the tiny model into ${corpus}\n`);
  const capture = await runCapture({
    tasks: taskCatalog().synthetic_tasks,
    promptIdx: Array.from({ length: DEMO_SETTINGS.promptsPerTask }, (_, i) => i),
    model: 'tiny',
    out: corpus,
    source: 'synthetic',
    promptFormat: 'chat',
    maxLength: DEMO_SETTINGS.maxLength,
    nSink: DEMO_SETTINGS.nSink,
    tSub: DEMO_SETTINGS.tSub,
    chunk: DEMO_SETTINGS.chunk,
    seed: 0,
    ep: 'cpu',
    withInputIds: false,
    withKeys: false,
    force: false,
    threads: opts.threads,
    signal: opts.signal,
    stderr,
  });
  stderr.write(`demo: analysing ${corpus}\n`);
  const analysis = await runAnalysis({
    corpus,
    out: report,
    kMax: DEMO_SETTINGS.kMax,
    covariance: 'full',
    granularity: 'kv',
    holdout: 0.2,
    alpha: 0.05,
    seed: 0,
    threads: opts.threads,
    progressStream: stderr,
  });
  return { corpus, report: analysis.report, capture, analysis };
}
