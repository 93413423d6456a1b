import { Command } from 'commander';
import { DEFAULT_CORPUS_REPO, downloadCorpus, downloadModel } from '../hub/selections.js';
import type { DownloadResult } from '../hub/download.js';
import { formatBytes } from '../util/format.js';

export function registerDownload(program: Command): void {
  const download = program
    .command('download')
    .description('download a published corpus or an ONNX model into the Hugging Face cache');
  download
    .command('corpus')
    .description('download the published query corpus (npz files + meta.json)')
    .argument('[repo]', 'dataset repo id', DEFAULT_CORPUS_REPO)
    .option('--files <glob>', 'only files matching this glob (e.g. "prompt_niah_*")')
    .action(async (repo: string, opts: { files?: string }) => {
      report(await downloadCorpus(repo, opts.files), 'analyze it with: poc analyze --corpus');
    });
  download
    .command('model')
    .description('download the files of an ONNX model repo that capture needs')
    .argument('<repo>', 'model repo id')
    .action(async (repo: string) => {
      report(await downloadModel(repo), 'capture with: poc capture --model');
    });
}

function report(result: DownloadResult, next: string): void {
  const fetched = result.files.filter((f) => !f.fromCache);
  const bytes = fetched.reduce((s, f) => s + f.sizeBytes, 0);
  process.stderr.write(
    `${result.files.length} files (${fetched.length} downloaded, ${formatBytes(bytes)}; ${result.files.length - fetched.length} already cached)\n`,
  );
  process.stdout.write(`${result.snapshotDir}\n`);
  process.stderr.write(`${next} ${result.snapshotDir}\n`);
}
