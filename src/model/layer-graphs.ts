import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { openExportSource, PREFIX, renameLocations, writeAtomic, type PlacementOptions } from './capture-graph.js';
import { SURGERY_VERSION } from './capture-surgery.js';
import type { ModelGeometry } from './config.js';
import { LAYER_SLICE_VERSION, sliceByLayer, type LayerSliceIo } from './layer-slices.js';
import { layerSwitchModel } from './layer-switch.js';

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

/**
 * Return the layer-switch graph of a model folder, cutting the export only when none for
 * this source, options and surgery/slicing versions exists yet. Placement follows the
 * capture graph's (beside the export when writable, else the cache, with real data-file
 * names behind symlinks): it references the export's external data and copies no weight.
 */
export async function ensureLayerGraphs(modelDir: string, opts: { withKeys: boolean; withValues?: boolean; rowsOnHost?: boolean } & PlacementOptions): Promise<LayerGraphs> {
  const started = performance.now();
  // values and rowsOnHost enter the key only when asked for, so the graphs without them keep their keys
  const withValues = opts.withValues ?? false;
  const src = await openExportSource(
    modelDir,
    { v: SURGERY_VERSION, layers: LAYER_SLICE_VERSION, withKeys: opts.withKeys, ...(withValues ? { withValues } : {}), ...(opts.rowsOnHost ? { rowsOnHost: true } : {}) },
    opts.location,
  );
  const { model, data, geometry, sourcePath } = src;
  const stem = `${PREFIX}${src.key}${opts.withKeys ? '-keys' : ''}${withValues ? '-values' : ''}${opts.rowsOnHost ? '-f32rows' : ''}-layers`;
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

