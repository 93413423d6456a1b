import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { UserError } from '../../errors.js';
import { geometryOf, readModelConfig, type ModelGeometry } from '../config.js';
import { rewriteForCapture, SURGERY_VERSION, type SurgeryOptions, type SurgeryStats } from './capture-surgery.js';
import { LOOP_GRAPH_VERSION, rewriteForLoop } from './loop-graph.js';
import { tempSuffix } from '../../util/temp-name.js';
import { pocCacheDir } from '../../util/cache-dir.js';

/** Where a capture graph is, whether it came from the cache, and what the rewrite did. */
export interface CaptureGraph {
  /** the rewritten .onnx: beside the export, or in the cache (then load it with externalDataDir) */
  path: string;
  /** the export it was made from */
  sourcePath: string;
  /** folder its external-data locations are relative to (the export's, or the real one behind symlinks) */
  externalDataDir: string;
  geometry: ModelGeometry;
  cached: boolean;
  /** present when this call did the rewrite */
  stats?: SurgeryStats;
  rewriteMs: number;
}

/** File-name prefix of every graph poc writes beside an export (never taken for the export itself). */
export const PREFIX = 'poc-capture-';

/** Where a rewritten graph may be written. */
export interface PlacementOptions {
  /** 'auto': beside the source when its folder is writable, else the cache; 'cache': always the cache (leaves a shared model folder untouched) */
  location?: 'auto' | 'cache';
}

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
  return pocCacheDir();
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

/** What the provider choice needs to know of an export, read from its graph only (never the weights). */
export interface ExportTraits {
  /** the past key/value inputs, the model's compute type, are float16 */
  computesInHalf: boolean;
  /** attention is a fused onnxruntime op (GroupQueryAttention of onnxruntime-genai exports, …) */
  fusedAttention: boolean;
}

/** Reads a model folder's export graph for ExportTraits. */
export async function readExportTraits(modelDir: string): Promise<ExportTraits> {
  const { model } = await readModelProto(await findOnnxFile(modelDir));
  const past = model.graph?.input.find((i) => /^past_key_values\.\d+\.(key|value)$/.test(i.name));
  return {
    computesInHalf: past?.type?.value.case === 'tensorType' && past.type.value.value.elemType === TensorProto_DataType.FLOAT16,
    fusedAttention: (model.graph?.node ?? []).some((n) => FUSED_ATTENTION_OPS.has(n.opType)),
  };
}

const FUSED_ATTENTION_OPS = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention', 'PackedMultiHeadAttention']);

/** An export read for rewriting, with where the graphs derived from it are placed. */
export interface ExportSource {
  geometry: ModelGeometry;
  sourcePath: string;
  sourceDir: string;
  model: ModelProto;
  data: Awaited<ReturnType<typeof resolveExternalData>>;
  /** 16 hex digits over the export's bytes, where its data really lives and `keyParts` */
  key: string;
  /** the folder derived graphs go to: beside the export when writable, else the cache */
  folder: string;
}

/** Reads a model folder's export and keys and places the graphs derived from it (see ensureCaptureGraph). */
export async function openExportSource(modelDir: string, keyParts: Record<string, unknown>, location: PlacementOptions['location']): Promise<ExportSource> {
  const geometry = geometryOf(await readModelConfig(modelDir));
  const sourcePath = resolve(await findOnnxFile(modelDir));
  const sourceDir = dirname(sourcePath);
  const { model, bytes } = await readModelProto(sourcePath);
  const data = await resolveExternalData(model, sourceDir);
  const key = createHash('sha256')
    .update(bytes)
    .update(JSON.stringify({ ...keyParts, geometry, data: data.symlinked ? [...data.renames] : [] }))
    .digest('hex')
    .slice(0, 16);
  // per folder, so graphs of two folders with the same architecture never collide
  const folderKey = createHash('sha256').update(sourcePath).update(key).digest('hex').slice(0, 16);
  const useCache = location === 'cache' || data.symlinked || !(await writable(sourceDir));
  const folder = useCache ? join(captureCacheDir(), 'capture-graphs', folderKey) : sourceDir;
  return { geometry, sourcePath, sourceDir, model, data, key, folder };
}

/** Writes a file under a temporary name and renames it into place (never half a graph). */
export async function writeAtomic(target: string, bytes: Uint8Array): Promise<void> {
  // pid, random part and host: concurrent writers (array tasks, several nodes) never share a temporary file
  const tmp = `${target}.tmp-${tempSuffix()}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Return the capture graph of a model folder, rewriting the export only when no graph for
 * this source (sha256 of its .onnx bytes and where its data really lives), options and
 * surgery version exists yet. It is written beside the source, where it loads by path;
 * when that folder is read-only or its data files are symlinks (the Hugging Face cache),
 * into the cache folder: onnxruntime refuses external data that resolves outside the
 * model's folder, so such a graph names the real data files and is loaded from bytes with
 * `externalDataDir` as the initializer folder.
 */
export async function ensureCaptureGraph(modelDir: string, opts: SurgeryOptions & PlacementOptions & { loop?: boolean }): Promise<CaptureGraph> {
  const started = performance.now();
  // the loop version only enters loop graphs' keys, so the other graphs' keys stay as they were
  // values and rowsOnHost enter the key only when asked for, so the graphs without them keep their keys
  const withValues = opts.withValues ?? false;
  const src = await openExportSource(
    modelDir,
    {
      v: SURGERY_VERSION, withKeys: opts.withKeys, onePass: opts.onePass ?? false, ...(withValues ? { withValues } : {}),
      ...(opts.loop ? { loop: LOOP_GRAPH_VERSION } : {}), ...(opts.rowsOnHost ? { rowsOnHost: true } : {}),
    },
    opts.location,
  );
  const { model, data, geometry } = src;
  const fileName = `${PREFIX}${src.key}${opts.withKeys ? '-keys' : ''}${withValues ? '-values' : ''}${opts.onePass ? '-onepass' : ''}${opts.loop ? '-loop' : ''}${opts.rowsOnHost ? '-f32rows' : ''}.onnx`;
  const target = join(src.folder, fileName);
  const found = { sourcePath: src.sourcePath, externalDataDir: data.dir, geometry };
  if (existsSync(target)) return { ...found, path: target, cached: true, rewriteMs: performance.now() - started };
  let stats: SurgeryStats | undefined;
  if (opts.loop) rewriteForLoop(model, geometry, { withKeys: opts.withKeys, withValues, rowsOnHost: opts.rowsOnHost });
  else stats = rewriteForCapture(model, geometry, { withKeys: opts.withKeys, withValues, onePass: opts.onePass, rowsOnHost: opts.rowsOnHost });
  if (data.symlinked) renameLocations(model, data.renames);
  await mkdir(dirname(target), { recursive: true });
  await writeAtomic(target, toBinary(ModelProtoSchema, model));
  return { ...found, path: target, cached: false, stats, rewriteMs: performance.now() - started };
}

/** Where the external data of a graph really is: one folder, and each location's real file name. */
export async function resolveExternalData(model: ModelProto, sourceDir: string): Promise<{ dir: string; renames: Map<string, string>; symlinked: boolean }> {
  const locations = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
    const loc = t.externalData.find((e) => e.key === 'location')?.value;
    if (loc) locations.add(loc);
  }
  const renames = new Map<string, string>();
  const dirs = new Set<string>();
  let symlinked = false;
  for (const loc of [...locations].sort()) {
    const path = join(sourceDir, loc);
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      throw new UserError(`the export's external data file ${path} is missing: download or copy it beside the .onnx file`);
    }
    if (real !== path) symlinked = true;
    renames.set(loc, basename(real));
    dirs.add(dirname(real));
  }
  if (dirs.size > 1) throw new UserError(`the external data files of ${sourceDir} live in several folders (${[...dirs].join(', ')}): put them in one folder`);
  return { dir: symlinked ? [...dirs][0]! : sourceDir, renames, symlinked };
}

/** Point every external initializer at its real file name. */
export function renameLocations(model: ModelProto, renames: Map<string, string>): void {
  for (const t of model.graph?.initializer ?? []) {
    const entry = t.externalData.find((e) => e.key === 'location');
    if (entry && renames.has(entry.value)) entry.value = renames.get(entry.value)!;
  }
}

export async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
