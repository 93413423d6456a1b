import { Command } from 'commander';
import { runMerge } from '../analyze/merge.js';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('build one report, and one per-unit CSV beside it (<out>.units.csv), from the per-unit CSV shards written by `poc analyze --shard i/n`')
    .requiredOption('--out <report.md>', 'report to write')
    .argument('<shards...>', 'per-unit CSV files')
    .action(async (shards: string[], o: { out: string }) => {
      const r = await runMerge({ out: o.out, shards });
      process.stderr.write(`merged ${r.units} unit(s) from ${shards.length} shard(s)${r.duplicates ? ` (${r.duplicates} duplicate rows dropped)` : ''}; wrote ${r.report} and ${r.unitsCsv}\n`);
    });
}
