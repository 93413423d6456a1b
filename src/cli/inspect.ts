import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { formatInspect, inspectNpz } from '../corpus/inspect.js';
import { UserError } from '../errors.js';
import { NpzError } from '../npz/npz-reader.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('list the fields of an .npz (dtype, shape, size), print scalars, and validate corpus files against the schema and meta.json; given a corpus folder, every .npz in it')
    .argument('<file.npz|folder>', 'file to inspect, or a folder whose .npz files are inspected in turn')
    .option('--json', 'machine-readable output (one JSON document; an array for a folder)', false)
    .action(async (path: string, opts: { json: boolean }) => {
      const files = npzFilesOf(path);
      const results: Awaited<ReturnType<typeof inspectNpz>>[] = [];
      for (const file of files) {
        let result;
        try {
          result = await inspectNpz(file);
        } catch (err) {
          if (err instanceof NpzError) throw new UserError(`cannot read ${err.message}`);
          throw err;
        }
        results.push(result);
        if (!opts.json) process.stdout.write(`${formatInspect(result)}\n`);
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(files.length === 1 && files[0] === path ? results[0] : results, null, 2)}\n`);
      // an invalid corpus file is a finding about the user's data: exit 1, report already printed
      const bad = files.filter((_, i) => results[i]!.corpus && !results[i]!.corpus!.ok);
      if (bad.length === 1) throw new UserError(`${bad[0]} does not match the corpus schema (see above)`);
      if (bad.length > 1) throw new UserError(`${bad.length} of ${files.length} files in ${path} do not match the corpus schema (see above)`);
    });
}

/** `path` itself, or the .npz files of the folder `path` in name order (one-line error when there are none). */
function npzFilesOf(path: string): string[] {
  let isFolder = false;
  try {
    isFolder = statSync(path).isDirectory();
  } catch {
    return [path]; // inspectNpz says what is wrong with a missing file
  }
  if (!isFolder) return [path];
  const files = readdirSync(path).filter((n) => n.endsWith('.npz')).sort().map((n) => join(path, n));
  if (files.length === 0) throw new UserError(`${path} is a folder with no .npz files: give a corpus folder or one .npz file`);
  return files;
}
