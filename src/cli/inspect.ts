import { Command } from 'commander';
import { formatInspect, inspectNpz } from '../corpus/inspect.js';
import { UserError } from '../errors.js';
import { NpzError } from '../npz/npz-reader.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('list the fields of an .npz (dtype, shape, size), print scalars, and validate corpus files against the schema and meta.json')
    .argument('<file.npz>', 'file to inspect')
    .option('--json', 'machine-readable output', false)
    .action(async (file: string, opts: { json: boolean }) => {
      let result;
      try {
        result = await inspectNpz(file);
      } catch (err) {
        if (err instanceof NpzError) throw new UserError(`cannot read ${err.message}`);
        throw err;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatInspect(result)}\n`);
      // an invalid corpus file is a finding about the user's data: exit 1, report already printed
      if (result.corpus && !result.corpus.ok) throw new UserError(`${file} does not match the corpus schema (see above)`);
    });
}
