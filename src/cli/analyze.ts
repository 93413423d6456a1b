import { Command } from 'commander';
import { runAnalysis } from '../analyze/run.js';
import { withInterruptSignal } from './signals.js';
import { choiceArg, floatArg, intArg, shardArg, type Shard } from './parse.js';

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description(
      'fit Gaussian mixtures (K by BIC) to every (layer, kv head, prompt) unit of a corpus, test the fit (PIT-KS), compare with KDE and Student-t, check rank stability, and write a report with figures',
    )
    .option('--corpus <dir>', 'corpus folder (npz files + meta.json)', 'corpus')
    .requiredOption('--out <report.md>', 'report to write (figures go beside it)')
    .option('--units <file.csv>', 'per-unit results (default: <out>.units.csv); appended, so runs resume')
    .option('--k-max <n>', 'largest number of mixture components', intArg(1, 64), 10)
    .option('--covariance <type>', 'mixture covariance', choiceArg(['full', 'diag'] as const), 'full')
    .option('--granularity <g>', 'kv: a unit per kv head (its GQA group of query heads); q: per query head', choiceArg(['kv', 'q'] as const), 'kv')
    .option('--kv-heads <n>', 'kv heads, for a corpus whose meta.json lacks model.num_key_value_heads', intArg(1))
    .option('--holdout <f>', 'held-out fraction for goodness of fit and log-likelihoods', floatArg(0.01, 0.9), 0.2)
    .option('--alpha <a>', 'significance level of the KS test', floatArg(1e-9, 0.5), 0.05)
    .option('--seed <n>', 'seed for splits and initialisations', intArg(0), 0)
    .option('--shard <i/n>', 'take every n-th unit starting at i; merge shards with `poc merge`', shardArg)
    .option('--threads <n>', 'worker threads (default: all cores)', intArg(1))
    .action(async (o: {
      corpus: string; out: string; units?: string; kMax: number; covariance: 'full' | 'diag'; granularity: 'kv' | 'q';
      kvHeads?: number; holdout: number; alpha: number; seed: number; shard?: Shard; threads?: number;
    }) => {
      const r = await withInterruptSignal((signal) => runAnalysis({ ...o, signal }));
      const bad = r.badFiles.length > 0 ? `, ${r.badFiles.length} file(s) skipped (listed in the report)` : '';
      process.stderr.write(
        `analysed ${r.unitsAnalysed} unit(s), ${r.unitsSkipped} already done, of ${r.unitsPlanned}${bad} in ${r.seconds.toFixed(1)} s on ${Math.max(r.workerThreads, 1)} thread(s)\n` +
        `wrote ${r.report} and ${r.unitsCsv}\n`,
      );
    });
}
