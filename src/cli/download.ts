import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';

export function registerDownload(program: Command): void {
  const download = program
    .command('download')
    .description('download a published corpus or an ONNX model into the Hugging Face cache');
  download
    .command('corpus')
    .description('download the published query corpus (npz files + meta.json)')
    .argument('[repo]', 'dataset repo id', 'June30916/multimodality-poc-llama31-ruler16k')
    .option('--files <glob>', 'only files matching this glob (e.g. "prompt_niah_*")')
    .action(async () => {
      throw new NotBuiltError('download corpus');
    });
  download
    .command('model')
    .description('download the files of an ONNX model repo that capture needs')
    .argument('<repo>', 'model repo id')
    .action(async () => {
      throw new NotBuiltError('download model');
    });
}
