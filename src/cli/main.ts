import { Command, CommanderError } from 'commander';
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USER, InterruptedError, NotBuiltError, UserError } from '../errors.js';
import { toolVersion } from '../version.js';
import { registerMakeTinyModel } from './make-tiny-model.js';
import { registerCapture } from './capture.js';
import { registerAnalyze } from './analyze.js';
import { registerFidelity } from './fidelity.js';
import { registerMerge } from './merge.js';
import { registerInspect } from './inspect.js';
import { registerDownload } from './download.js';
import { registerDoctor } from './doctor.js';
import { registerDemo } from './demo.js';

/** Builds the whole command tree; exported so tests can inspect every --help. */
export function buildProgram(): Command {
  const program = new Command('poc')
    .description(
      'Capture pre-RoPE attention queries from an ONNX Llama over RULER prompts, and test whether each head\'s queries are one Gaussian (the assumption of kvpress\'s Expected Attention).',
    )
    .version(toolVersion(), '-V, --version')
    .option('--verbose', 'print stack traces and extra diagnostics', false)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });
  registerMakeTinyModel(program);
  registerCapture(program);
  registerAnalyze(program);
  registerFidelity(program);
  registerMerge(program);
  registerInspect(program);
  registerDownload(program);
  registerDoctor(program);
  registerDemo(program);
  program.exitOverride();
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI and returns the process exit code (0 ok, 1 user error, 2 internal error). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are successes; commander already printed the message
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return EXIT_OK;
      }
      return EXIT_USER;
    }
    if (err instanceof InterruptedError) {
      process.stderr.write(`poc: ${err.message}\n`);
      return EXIT_INTERRUPTED;
    }
    if (err instanceof NotBuiltError) {
      process.stderr.write(`poc: ${err.message}\n`);
      return EXIT_INTERNAL;
    }
    if (err instanceof UserError) {
      process.stderr.write(`poc: ${err.message}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return EXIT_USER;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`poc: internal error: ${e.message}\n`);
    if (verbose) process.stderr.write(`${e.stack ?? ''}\n`);
    else process.stderr.write('poc: rerun with --verbose for the stack trace, and report it if it persists\n');
    return EXIT_INTERNAL;
  }
}
