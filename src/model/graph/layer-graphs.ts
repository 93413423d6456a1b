import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { openExportSource, PREFIX, renameLocations, writeAtomic, type PlacementOptions } from './capture-graph.js';
import { SURGERY_VERSION } from './capture-surgery.js';
import type { ModelGeometry } from '../config.js';
import { LAYER_SLICE_VERSION, sliceByLayer, type LayerSliceIo } from './layer-slices.js';
import { layerSwitchModel, singleLayerModel, SWITCH_IO } from './layer-switch.js';
import { DT } from './onnx-graph.js';

/** The layer-switch graph of a model folder (all layer slices behind one `layer_index`), and how the slices connect. */
export interface LayerGraphs {
  /** the .onnx holding every layer's slice as a branch (see layer-switch.ts) */
  path: string;
  io: LayerSliceIo[];
  /** residual-stream tensors carried between layers (SWITCH_IO.residualIn/Out slots) */
  residualWidth: number;
  seqMajorCache: boolean;
  sourcePath: string;
  /** folder the slices' external-data locations are relative to */
  externalDataDir: string;
  geometry: ModelGeometry;
  cached: boolean;
  rewriteMs: number;
}

/** Written after the graph: its presence means the graph is complete and says how slices connect. */
interface Manifest {
  version: number;
  file: string;
  io: LayerSliceIo[];
  residualWidth: number;
  seqMajorCache: boolean;
}

/** Options shared by the layer-switch graph and the per-layer graph files. */
type SliceOptions = { withKeys: boolean; withValues?: boolean; rowsOnHost?: boolean } & PlacementOptions;

/**
 * The export source and the file stem of a model folder's sliced graphs; values and rowsOnHost
 * enter the key only when asked for, so the graphs without them keep their keys.
 */
async function openSliceSource(modelDir: string, opts: SliceOptions, kind: 'layers' | 'slice') {
  const withValues = opts.withValues ?? false;
  const src = await openExportSource(
    modelDir,
    { v: SURGERY_VERSION, layers: LAYER_SLICE_VERSION, withKeys: opts.withKeys, ...(withValues ? { withValues } : {}), ...(opts.rowsOnHost ? { rowsOnHost: true } : {}) },
    opts.location,
  );
  const stem = `${PREFIX}${src.key}${opts.withKeys ? '-keys' : ''}${withValues ? '-values' : ''}${opts.rowsOnHost ? '-f32rows' : ''}-${kind}`;
  return { src, withValues, stem };
}

/**
 * Return the layer-switch graph of a model folder, cutting the export only when none for
 * this source, options and surgery/slicing versions exists yet. Placement follows the
 * capture graph's (beside the export when writable, else the cache, with real data-file
 * names behind symlinks): it references the export's external data and copies no weight.
 */
export async function ensureLayerGraphs(modelDir: string, opts: SliceOptions): Promise<LayerGraphs> {
  const started = performance.now();
  const { src, withValues, stem } = await openSliceSource(modelDir, opts, 'layers');
  const { model, data, geometry, sourcePath } = src;
  const dir = src.folder;
  const manifestPath = join(dir, `${stem}.json`);
  const found = { sourcePath, externalDataDir: data.dir, geometry };
  if (existsSync(manifestPath)) {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const path = join(dir, m.file);
    if (m.version === LAYER_SLICE_VERSION && existsSync(path)) {
      return { ...found, path, io: m.io, residualWidth: m.residualWidth, seqMajorCache: m.seqMajorCache, cached: true, rewriteMs: performance.now() - started };
    }
  }
  const slices = sliceByLayer(model, geometry, { withKeys: opts.withKeys, withValues, rowsOnHost: opts.rowsOnHost });
  const residualWidth = Math.max(0, ...slices.io.map((x) => Math.max(x.residualIn.length, x.residualOut.length)));
  const combined = layerSwitchModel(slices, residualWidth);
  if (data.symlinked) renameLocations(combined, data.renames);
  await mkdir(dir, { recursive: true });
  const file = `${stem}.onnx`;
  await writeAtomic(join(dir, file), toBinary(ModelProtoSchema, combined));
  const manifest: Manifest = { version: LAYER_SLICE_VERSION, file, io: slices.io, residualWidth, seqMajorCache: slices.seqMajorCache };
  await writeAtomic(manifestPath, new TextEncoder().encode(JSON.stringify(manifest, null, 1)));
  return { ...found, path: join(dir, file), io: slices.io, residualWidth, seqMajorCache: slices.seqMajorCache, cached: false, rewriteMs: performance.now() - started };
}


/** A model folder's layer slices as one standalone graph file each (see singleLayerModel). */
export interface SliceGraphs {
  /** one .onnx per layer, in layer order, each over the export's external data */
  paths: string[];
  io: LayerSliceIo[];
  residualWidth: number;
  seqMajorCache: boolean;
  /** element type of the KV cache and residual stream (the model's compute dtype) */
  kvType: 'float32' | 'float16';
  sourcePath: string;
  externalDataDir: string;
  geometry: ModelGeometry;
  cached: boolean;
  rewriteMs: number;
}

interface SliceManifest {
  version: number;
  files: string[];
  io: LayerSliceIo[];
  residualWidth: number;
  seqMajorCache: boolean;
  kvType: 'float32' | 'float16';
}

/**
 * Return the per-layer graph files of a model folder (for the streamed prefill, which opens
 * one layer's session at a time), cutting the export only when none exist for this source,
 * options and versions. Placed like the layer-switch graph; the manifest is written last.
 */
export async function ensureSliceGraphs(modelDir: string, opts: SliceOptions): Promise<SliceGraphs> {
  const started = performance.now();
  const { src, withValues, stem } = await openSliceSource(modelDir, opts, 'slice');
  const { model, data, geometry, sourcePath } = src;
  const dir = src.folder;
  const manifestPath = join(dir, `${stem}s.json`);
  const found = { sourcePath, externalDataDir: data.dir, geometry };
  if (existsSync(manifestPath)) {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as SliceManifest;
    const paths = m.files.map((f) => join(dir, f));
    if (m.version === LAYER_SLICE_VERSION && paths.every((p) => existsSync(p))) {
      return { ...found, paths, io: m.io, residualWidth: m.residualWidth, seqMajorCache: m.seqMajorCache, kvType: m.kvType, cached: true, rewriteMs: performance.now() - started };
    }
  }
  const slices = sliceByLayer(model, geometry, { withKeys: opts.withKeys, withValues, rowsOnHost: opts.rowsOnHost });
  const residualWidth = Math.max(0, ...slices.io.map((x) => Math.max(x.residualIn.length, x.residualOut.length)));
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let kvType: 'float32' | 'float16' = 'float32';
  for (let l = 0; l < slices.models.length; l++) {
    const one = singleLayerModel(slices, l, residualWidth);
    if (data.symlinked) renameLocations(one, data.renames);
    const past = one.graph!.input.find((i) => i.name === SWITCH_IO.past('key'));
    if (past?.type?.value.case === 'tensorType' && past.type.value.value.elemType === DT.FLOAT16) kvType = 'float16';
    const file = `${stem}${l}.onnx`;
    await writeAtomic(join(dir, file), toBinary(ModelProtoSchema, one));
    files.push(file);
  }
  const manifest: SliceManifest = { version: LAYER_SLICE_VERSION, files, io: slices.io, residualWidth, seqMajorCache: slices.seqMajorCache, kvType };
  await writeAtomic(manifestPath, new TextEncoder().encode(JSON.stringify(manifest, null, 1)));
  const paths = files.map((f) => join(dir, f));
  return { ...found, paths, io: slices.io, residualWidth, seqMajorCache: slices.seqMajorCache, kvType, cached: false, rewriteMs: performance.now() - started };
}
