import { Command } from 'commander';
import { runFidelity } from '../fidelity/run.js';
import { floatArg, fractionListArg, intArg } from './parse.js';

export function registerFidelity(program: Command): void {
  program
    .command('fidelity')
    .description('measure how well one Gaussian vs a mixture predicts future attention to keys (needs --with-keys corpora)')
    .option('--corpus <dir>', 'corpus folder captured with --with-keys', 'corpus')
    .requiredOption('--out <fidelity.md>', 'report to write (per-unit CSV goes to <out>.units.csv; an interrupted run resumes from it)')
    .option('--k-max <n>', 'largest number of mixture components', intArg(1, 64), 10)
    .option('--future <f>', 'latest fraction of sampled positions used as future queries', floatArg(0.01, 0.9), 0.2)
    .option('--keep <list>', 'keep fractions for recall and kept mass', fractionListArg, [0.1, 0.25, 0.5])
    .option('--seed <n>', 'seed of the mixture fits', intArg(0), 0)
    .action(async (o: { corpus: string; out: string; kMax: number; future: number; keep: number[]; seed: number }) => {
      const r = await runFidelity(o);
      const failed = (r.summary.failed.length > 0 ? `, ${r.summary.failed.length} failed` : '') +
        (r.skippedFiles.length > 0 ? `, ${r.skippedFiles.length} file(s) skipped` : '') + (r.summary.failed.length + r.skippedFiles.length > 0 ? ' (listed in the report)' : '');
      const perUnit = r.rows.length > r.unitsResumed ? r.seconds / (r.rows.length - r.unitsResumed) : NaN;
      process.stderr.write(
        `scored ${r.rows.length - r.unitsResumed} unit(s)${r.unitsResumed > 0 ? ` (${r.unitsResumed} more from an earlier run)` : ''}${failed} in ${r.seconds.toFixed(1)} s (${Number.isFinite(perUnit) ? perUnit.toFixed(2) : '-'} s/unit)\n` +
        `wrote ${r.report} and ${r.unitsCsv}\n`,
      );
    });
}
