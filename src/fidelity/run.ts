import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { openNpz } from '../npz/index.js';
import { writeFileAtomic } from '../npz/atomic-file.js';
import { createProgress } from '../analyze/progress.js';
import { defaultUnitsPath } from '../analyze/run.js';
import type { KernelOptions } from '../stats/kernels/index.js';
import { planFidelityCorpus, readLayer } from './corpus.js';
import { formatFidelityCsv } from './csv.js';
import { writeFidelityReport } from './report.js';
import { invFreqOf } from './rope.js';
import { summariseFidelity, type FidelitySummary } from './summary.js';
import { fidelityUnit, type FidelityResult, type FidelitySettings } from './unit.js';

/** Options of `poc fidelity` (see its --help). */
export interface FidelityOptions {
  corpus: string;
  out: string;
  kMax: number;
  /** latest fraction of each prompt's sampled positions used as future queries */
  future: number;
  keep: number[];
  seed?: number;
  /** progress output (default process.stderr); null for none */
  progressStream?: { write(s: string): unknown; isTTY?: boolean } | null;
  /** statistics kernels (default onnxruntime on all cores) */
  kernel?: KernelOptions;
}

export interface FidelityRunResult {
  report: string;
  unitsCsv: string;
  figures: string[];
  rows: FidelityResult[];
  summary: FidelitySummary;
  /** corpus files skipped (unreadable or inconsistent), with the reason */
  skippedFiles: Array<{ path: string; reason: string }>;
  seconds: number;
}

/** Scores every (layer, kv head, prompt) unit of a --with-keys corpus and writes the CSV and the report. */
export async function runFidelity(opts: FidelityOptions): Promise<FidelityRunResult> {
  const started = performance.now();
  const out = resolve(opts.out);
  const unitsCsv = defaultUnitsPath(out);
  const plan = await planFidelityCorpus(opts.corpus);
  const settings: FidelitySettings = {
    future: opts.future, keep: opts.keep, kMax: opts.kMax, seed: opts.seed ?? 0, invFreq: invFreqOf(plan.rope), kernel: opts.kernel,
  };
  const total = plan.files.reduce((s, f) => s + f.nLayers * plan.nKvHeads, 0);
  const quiet = opts.progressStream === null;
  const progress = createProgress(total, opts.progressStream ?? process.stderr, quiet);
  const rows: FidelityResult[] = [];
  try {
    for (const file of plan.files) {
      const reader = await openNpz(file.path);
      try {
        for (let layer = 0; layer < file.nLayers; layer++) {
          const data = await readLayer(reader, file, layer);
          const perKv = plan.groupSize * file.tSub * file.headDim;
          for (let head = 0; head < plan.nKvHeads; head++) {
            const keysPerHead = file.tSub * file.headDim;
            rows.push(await fidelityUnit({
              key: { task: file.task, promptIdx: file.promptIdx, layer, head },
              queries: data.queries.subarray(head * perKv, (head + 1) * perKv),
              groupSize: plan.groupSize,
              keys: data.keys.subarray(head * keysPerHead, (head + 1) * keysPerHead),
              positions: data.positions,
              headDim: file.headDim,
            }, settings));
            progress.tick();
          }
        }
      } finally {
        await reader.close();
      }
    }
  } finally {
    progress.done();
  }
  mkdirSync(dirname(out), { recursive: true });
  await writeFileAtomic(unitsCsv, formatFidelityCsv(rows, opts.keep));
  const summary = summariseFidelity(rows, opts.keep);
  const figures = await writeFidelityReport(out, rows, summary, {
    corpus: opts.corpus, future: opts.future, kMax: opts.kMax, seed: settings.seed, skippedFiles: plan.bad.map((b) => ({ path: b.path, reason: b.reason })),
  });
  return { report: out, unitsCsv, figures, rows, summary, skippedFiles: plan.bad.map((b) => ({ path: b.path, reason: b.reason })), seconds: (performance.now() - started) / 1000 };
}
