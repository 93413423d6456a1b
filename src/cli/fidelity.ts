import { Command } from 'commander';
import { DEFAULT_RATIOS, runFidelity } from '../fidelity/run.js';
import { floatArg, fractionListArg, intArg, ratioListArg } from './parse.js';

export function registerFidelity(program: Command): void {
  program
    .command('fidelity')
    .description(
      'simulate KV-cache presses per (layer, kv head, prompt): kvpress Expected Attention with one Gaussian vs the BIC-best mixture, ' +
      'SnapKV, StreamingLLM, random and the oracle, by the attention-output error of the future queries ' +
      '(needs a corpus captured with --with-keys --with-values; --no-press ranks keys on --with-keys alone)',
    )
    .option('--corpus <dir>', 'corpus folder captured with --with-keys --with-values', 'corpus')
    .requiredOption('--out <fidelity.md>', 'report to write (per-unit CSV goes to <out>.units.csv; an interrupted run resumes from it)')
    .option('--k-max <n>', 'largest number of mixture components', intArg(1, 64), 10)
    .option('--future <f>', 'latest fraction of sampled positions used as future queries (the rest is the cache)', floatArg(0.01, 0.9), 0.2)
    .option('--keep <list>', 'keep fractions for the ranking\'s recall and kept mass', fractionListArg, [0.1, 0.25, 0.5])
    .option('--ratios <list>', 'compression ratios of the press simulation (fraction of keys removed, as kvpress)', ratioListArg, DEFAULT_RATIOS)
    .option('--no-press', 'skip the press simulation: rank keys on keys alone (no values needed)')
    .option('--threads <n>', 'worker threads, one unit each (default: all cores)', intArg(1))
    .option('--seed <n>', 'seed of the mixture fits and the random press', intArg(0), 0)
    .action(async (o: { corpus: string; out: string; kMax: number; future: number; keep: number[]; ratios: number[]; press: boolean; threads?: number; seed: number }) => {
      const r = await runFidelity(o);
      const failed = (r.summary.failed.length > 0 ? `, ${r.summary.failed.length} failed` : '') +
        (r.skippedFiles.length > 0 ? `, ${r.skippedFiles.length} file(s) skipped` : '') + (r.summary.failed.length + r.skippedFiles.length > 0 ? ' (listed in the report)' : '');
      const fresh = r.rows.length - r.unitsResumed;
      const perUnit = fresh > 0 ? r.seconds / fresh : NaN;
      process.stderr.write(
        `scored ${fresh} unit(s)${r.unitsResumed > 0 ? ` (${r.unitsResumed} more from an earlier run)` : ''}${failed} in ${r.seconds.toFixed(1)} s ` +
        `on ${Math.max(r.workerThreads, 1)} thread(s) (${Number.isFinite(perUnit) ? perUnit.toFixed(2) : '-'} s/unit)\n` +
        `wrote ${r.report} and ${r.unitsCsv}\n`,
      );
    });
}
