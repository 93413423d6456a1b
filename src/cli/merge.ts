import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('build one report from per-unit CSV shards written by `poc analyze --shard i/n`')
    .requiredOption('--out <report.md>', 'report to write')
    .argument('<shards...>', 'per-unit CSV files')
    .action(async () => {
      throw new NotBuiltError('merge');
    });
}
