import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { UserError } from '../errors.js';
import { maxNewTokensOf, taskCatalog } from './tasks.js';
import type { RulerRow } from './types.js';

/** Columns a RULER parquet must have (max_new_tokens is optional: RULER's constants fill it). */
export const REQUIRED_COLUMNS = ['context', 'question', 'answer_prefix', 'answer', 'task'] as const;

/**
 * The parquet files of a local source, in name order: the file itself, or every *.parquet
 * under a folder (only its `16384/` subfolder when it has one, as in the dataset's layout).
 */
export function listParquetFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UserError(`RULER source ${path} does not exist; give a parquet file or a folder of them, or use --source hub|synthetic`);
  }
  if (st.isFile()) return [path];
  const sub = join(path, taskCatalog().dataset.data_dir);
  const root = existsDir(sub) ? sub : path;
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith('.parquet')) found.push(full);
    }
  };
  walk(root);
  if (found.length === 0) throw new UserError(`no .parquet files under ${path}`);
  return found.sort((a, b) => (relative(root, a) < relative(root, b) ? -1 : 1));
}

function existsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Reads the rows of `task` at the given prompt indices (row index among that task's rows,
 * files taken in order) from parquet files, reading the task column first and then only the
 * selected rows' other columns.
 */
export async function readRulerParquet(files: string[], task: string, promptIdx: number[], sourceName: string): Promise<RulerRow[]> {
  const located = new Map<number, { file: string; row: number }>();
  let seen = 0;
  const opened = new Map<string, { buffer: Awaited<ReturnType<typeof asyncBufferFromFile>>; metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>; hasMaxNew: boolean }>();
  for (const file of files) {
    const buffer = await asyncBufferFromFile(file);
    let metadata;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (err) {
      throw new UserError(`${file} is not a readable parquet file (${(err as Error).message})`);
    }
    const columns = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
    const missing = REQUIRED_COLUMNS.filter((c) => !columns.has(c));
    if (missing.length > 0) {
      throw new UserError(`${file} lacks the RULER columns ${missing.join(', ')} (needs ${REQUIRED_COLUMNS.join(', ')}, as in simonjegou/ruler)`);
    }
    opened.set(file, { buffer, metadata, hasMaxNew: columns.has('max_new_tokens') });
    const tasks = await parquetReadObjects({ file: buffer, metadata, columns: ['task'] });
    tasks.forEach((r, row) => {
      if (r.task === task) {
        located.set(seen, { file, row });
        seen++;
      }
    });
  }
  if (seen === 0) throw new UserError(`task ${task} has no rows in ${sourceName}`);
  for (const idx of promptIdx) {
    if (!located.has(idx)) throw new UserError(`prompt_idx ${idx} is out of range: task ${task} has ${seen} rows in ${sourceName} (0..${seen - 1})`);
  }
  // one read per file over the span of the wanted rows: a task's rows sit together in the
  // dataset, so this decodes each row group once instead of once per prompt
  const byIdx = new Map<number, RulerRow>();
  for (const [file, { buffer, metadata, hasMaxNew }] of opened) {
    const wanted = promptIdx.filter((i) => located.get(i)!.file === file);
    if (wanted.length === 0) continue;
    const fileRows = wanted.map((i) => located.get(i)!.row);
    const rowStart = Math.min(...fileRows);
    const rowEnd = Math.max(...fileRows) + 1;
    const span = await parquetReadObjects({
      file: buffer,
      metadata,
      columns: [...REQUIRED_COLUMNS.filter((c) => c !== 'task'), ...(hasMaxNew ? ['max_new_tokens'] : [])],
      rowStart,
      rowEnd,
    });
    for (const idx of wanted) {
      const r = span[located.get(idx)!.row - rowStart];
      if (!r) throw new Error(`row ${located.get(idx)!.row} of ${file} could not be read`);
      byIdx.set(idx, {
        task,
        promptIdx: idx,
        context: String(r.context),
        question: String(r.question),
        answerPrefix: String(r.answer_prefix),
        answers: Array.isArray(r.answer) ? r.answer.map(String) : [String(r.answer)],
        maxNewTokens: hasMaxNew && r.max_new_tokens != null ? Number(r.max_new_tokens) : maxNewTokensOf(task),
      });
    }
  }
  const rows = promptIdx.map((i) => byIdx.get(i)!);
  return rows;
}
