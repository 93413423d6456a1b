import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report onnxruntime version, usable execution providers, the Hugging Face cache and free disk')
    .action(async () => {
      throw new NotBuiltError('doctor');
    });
}
