import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the built-in default job, offline: tiny model -> synthetic RULER capture -> analysis report')
    .option('--out <dir>', 'folder for the model, corpus and report', 'demo')
    .action(async () => {
      throw new NotBuiltError('demo');
    });
}
