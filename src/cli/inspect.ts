import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('list the fields of an .npz (dtype, shape, size), print scalars, and validate corpus files')
    .argument('<file.npz>', 'file to inspect')
    .option('--json', 'machine-readable output', false)
    .action(async () => {
      throw new NotBuiltError('inspect');
    });
}
