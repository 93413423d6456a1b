import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { captureCacheDir, findOnnxFile, PREFIX, readModelProto, renameLocations, resolveExternalData, writable, type PlacementOptions } from './capture-graph.js';
import { SURGERY_VERSION } from './capture-surgery.js';
import { geometryOf, readModelConfig, type ModelGeometry } from './config.js';
import { LAYER_SLICE_VERSION, sliceByLayer, type LayerSliceIo } from './layer-slices.js';

/** The per-layer slice graphs of a model folder, where they are and how they connect. */
export interface LayerGraphs {
  /** one .onnx per decoder layer, in layer order */
  paths: string[];
  io: LayerSliceIo[];
  seqMajorCache: boolean;
  sourcePath: string;
  /** folder the slices' external-data locations are relative to */
  externalDataDir: string;
  geometry: ModelGeometry;
  cached: boolean;
  rewriteMs: number;
}

/** The manifest written after all slices: its presence means the set is complete. */
interface Manifest {
  version: number;
  files: string[];
  io: LayerSliceIo[];
  seqMajorCache: boolean;
}

/**
 * Return the layer slices of a model folder, cutting the export only when no slice set for
 * this source, options and surgery/slicing versions exists yet. Placement follows the
 * capture graph's (beside the export when writable, else the cache, with real data-file
 * names behind symlinks): every slice references the export's external data, none copies it.
 */
export async function ensureLayerGraphs(modelDir: string, opts: { withKeys: boolean } & PlacementOptions): Promise<LayerGraphs> {
  const started = performance.now();
  const geometry = geometryOf(await readModelConfig(modelDir));
  const sourcePath = resolve(await findOnnxFile(modelDir));
  const sourceDir = dirname(sourcePath);
  const { model, bytes } = await readModelProto(sourcePath);
  const data = await resolveExternalData(model, sourceDir);
  const key = createHash('sha256')
    .update(bytes)
    .update(JSON.stringify({ v: SURGERY_VERSION, layers: LAYER_SLICE_VERSION, withKeys: opts.withKeys, geometry, data: data.symlinked ? [...data.renames] : [] }))
    .digest('hex')
    .slice(0, 16);
  const stem = `${PREFIX}${key}${opts.withKeys ? '-keys' : ''}-layers`;
  const folderKey = createHash('sha256').update(sourcePath).update(key).digest('hex').slice(0, 16);
  const useCache = opts.location === 'cache' || data.symlinked || !(await writable(sourceDir));
  const dir = useCache ? join(captureCacheDir(), 'capture-graphs', folderKey) : sourceDir;
  const manifestPath = join(dir, `${stem}.json`);
  const found = { sourcePath, externalDataDir: data.dir, geometry };
  if (existsSync(manifestPath)) {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const paths = m.files.map((f) => join(dir, f));
    if (m.version === LAYER_SLICE_VERSION && paths.every((p) => existsSync(p))) {
      return { ...found, paths, io: m.io, seqMajorCache: m.seqMajorCache, cached: true, rewriteMs: performance.now() - started };
    }
  }
  const slices = sliceByLayer(model, geometry, { withKeys: opts.withKeys });
  await mkdir(dir, { recursive: true });
  const files = slices.models.map((_, l) => `${stem}${l}.onnx`);
  for (const [l, m] of slices.models.entries()) {
    if (data.symlinked) renameLocations(m, data.renames);
    await writeAtomic(join(dir, files[l]!), toBinary(ModelProtoSchema, m));
  }
  const manifest: Manifest = { version: LAYER_SLICE_VERSION, files, io: slices.io, seqMajorCache: slices.seqMajorCache };
  await writeAtomic(manifestPath, new TextEncoder().encode(JSON.stringify(manifest, null, 1)));
  return { ...found, paths: files.map((f) => join(dir, f)), io: slices.io, seqMajorCache: slices.seqMajorCache, cached: false, rewriteMs: performance.now() - started };
}

async function writeAtomic(target: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
