import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, type ModelProto } from 'onnx-buf';
import { UserError } from '../errors.js';
import { geometryOf, readModelConfig, type ModelGeometry } from './config.js';
import { rewriteForCapture, SURGERY_VERSION, type SurgeryOptions, type SurgeryStats } from './capture-surgery.js';

/** Where a capture graph is, whether it came from the cache, and what the rewrite did. */
export interface CaptureGraph {
  /** the rewritten .onnx, in a folder where its external data resolves */
  path: string;
  /** the export it was made from */
  sourcePath: string;
  geometry: ModelGeometry;
  cached: boolean;
  /** present when this call did the rewrite */
  stats?: SurgeryStats;
  rewriteMs: number;
}

const PREFIX = 'poc-capture-';

/**
 * The decoder .onnx of a model folder: model.onnx, onnx/model.onnx, or the only .onnx file;
 * anything else is a UserError listing what was found.
 */
export async function findOnnxFile(modelDir: string): Promise<string> {
  for (const rel of ['model.onnx', join('onnx', 'model.onnx')]) {
    if (existsSync(join(modelDir, rel))) return join(modelDir, rel);
  }
  let names: string[] = [];
  try {
    names = (await readdir(modelDir)).filter((n) => n.endsWith('.onnx') && !n.startsWith(PREFIX));
  } catch {
    throw new UserError(`model folder ${modelDir} does not exist or cannot be read`);
  }
  if (names.length === 1) return join(modelDir, names[0]!);
  if (names.length === 0) throw new UserError(`no .onnx file in ${modelDir}: export the model to ONNX first (see poc capture --help)`);
  throw new UserError(`several .onnx files in ${modelDir} (${names.join(', ')}): keep one, or name it model.onnx`);
}

/** Default cache folder for capture graphs when the model folder is read-only. */
export function captureCacheDir(): string {
  return process.env.POC_CACHE ?? join(homedir(), '.cache', 'poc');
}

/** Parse an .onnx file's graph only (external weights stay on disk, unread). */
export async function readModelProto(path: string): Promise<{ model: ModelProto; bytes: Uint8Array }> {
  const bytes = await readFile(path);
  try {
    return { model: fromBinary(ModelProtoSchema, bytes), bytes };
  } catch (e) {
    throw new UserError(`${path} is not a readable ONNX model: ${(e as Error).message}`);
  }
}

/**
 * Return the capture graph of a model folder, rewriting the export only when no graph for
 * this source (sha256 of its .onnx bytes), options and surgery version exists yet. It is
 * written beside the source so external data locations resolve; if that folder is
 * read-only, into the cache folder with symlinks to the data files.
 */
export async function ensureCaptureGraph(modelDir: string, opts: SurgeryOptions): Promise<CaptureGraph> {
  const started = performance.now();
  const geometry = geometryOf(await readModelConfig(modelDir));
  const sourcePath = resolve(await findOnnxFile(modelDir));
  const { model, bytes } = await readModelProto(sourcePath);
  const key = createHash('sha256')
    .update(bytes)
    .update(JSON.stringify({ v: SURGERY_VERSION, withKeys: opts.withKeys, geometry }))
    .digest('hex')
    .slice(0, 16);
  const fileName = `${PREFIX}${key}${opts.withKeys ? '-keys' : ''}.onnx`;
  const besideSource = join(dirname(sourcePath), fileName);
  const inCache = join(captureCacheDir(), 'capture-graphs', key, fileName);
  for (const p of [besideSource, inCache]) {
    if (existsSync(p)) return { path: p, sourcePath, geometry, cached: true, rewriteMs: performance.now() - started };
  }
  const stats = rewriteForCapture(model, geometry, opts);
  const out = toBinary(ModelProtoSchema, model);
  let target = besideSource;
  if (!(await writable(dirname(sourcePath)))) {
    target = inCache;
    await mkdir(dirname(inCache), { recursive: true });
    for (const loc of externalLocations(model)) {
      const link = join(dirname(inCache), loc);
      await mkdir(dirname(link), { recursive: true });
      if (!existsSync(link)) await symlink(join(dirname(sourcePath), loc), link);
    }
  }
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, out);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return { path: target, sourcePath, geometry, cached: false, stats, rewriteMs: performance.now() - started };
}

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Distinct external-data file locations referenced by the graph's initializers. */
export function externalLocations(model: ModelProto): string[] {
  const locs = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
    const loc = t.externalData.find((e) => e.key === 'location')?.value;
    if (loc) locs.add(loc);
  }
  return [...locs];
}
