import { Command } from 'commander';
import { runDemo } from '../demo/run-demo.js';
import { intArg } from './parse.js';
import { withInterruptSignal } from './signals.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the built-in default job, offline: build the tiny Llama, capture the 11 synthetic RULER tasks x 2 prompts, ' +
        'analyse them and print where the report is (a few minutes on 2 cores; re-running resumes)',
    )
    .option('--out <dir>', 'folder for the corpus and the report', 'demo')
    .option('--threads <n>', 'threads for capture and analysis (default: all cores)', intArg(1))
    .action(async (flags: { out: string; threads?: number }) => {
      const r = await withInterruptSignal((signal) => runDemo({ out: flags.out, threads: flags.threads, signal }));
      process.stdout.write(`demo: report ${r.report}\ndemo: corpus ${r.corpus} (${r.capture.written.length + r.capture.skipped.length} files)\n`);
    });
}
