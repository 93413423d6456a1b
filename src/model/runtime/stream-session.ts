import type * as ort from 'onnxruntime-node';
import type { ModelGeometry } from '../config.js';
import { ensureSliceGraphs, type SliceGraphs } from '../graph/layer-graphs.js';
import type { LayerRunner } from './layer-session.js';
import type { Provider, ProviderPlan } from './provider-plan.js';
import { captureSetup, openSession, type CaptureSessionOptions } from './session.js';

/**
 * A model opened one decoder layer at a time: each layer is its own graph file (see
 * singleLayerModel) and its own onnxruntime session, created when the prefill reaches that
 * layer and released before the next one is created. onnxruntime therefore holds one layer's
 * weights (and its float32 working copies of float16 MatMul weights on the CPU provider) and
 * one session's arena at any time, whatever the depth; the weights are read again from the
 * page cache for every prompt.
 */
export interface StreamSession {
  graphs: SliceGraphs;
  geometry: ModelGeometry;
  /** provider actually used (decided when the first layer was opened) */
  ep: Provider;
  /** the provider plan: after layer 0 opened, the provider it settled on, without fallback or announcement */
  plan: ProviderPlan;
  kvType: 'float32' | 'float16';
  withKeys: boolean;
  withValues: boolean;
  residualWidth: number;
  /** the open layer, if any */
  current?: { layer: number; session: ort.InferenceSession };
  /** sessions created so far, and the most ever open at once (1 by construction; tests check it) */
  stats: { created: number; open: number; peakOpen: number };
  threads: number;
  warn: (line: string) => void;
}

/**
 * Build (or reuse) the per-layer graphs of a model folder and open layer 0, which settles
 * the provider (`auto` falls back to the CPU with one warning here, not once per layer).
 */
export async function createStreamSession(modelDir: string, opts: CaptureSessionOptions = {}): Promise<StreamSession> {
  const { withKeys, withValues, warn, plan, rowsOnHost, threads, location } = await captureSetup(modelDir, opts);
  const graphs = await ensureSliceGraphs(modelDir, { withKeys, withValues, rowsOnHost, location });
  const s: StreamSession = {
    graphs,
    geometry: graphs.geometry,
    ep: 'cpu',
    plan,
    kvType: graphs.kvType,
    withKeys,
    withValues,
    residualWidth: graphs.residualWidth,
    stats: { created: 0, open: 0, peakOpen: 0 },
    threads,
    warn,
  };
  await openLayer(s, 0);
  // later layers open on the provider layer 0 settled on: no second fallback or announcement
  s.plan = { provider: s.ep, rowsOnHost: plan.rowsOnHost, cpuFallback: false };
  return s;
}

/**
 * The runner of layer `l`: the open session when it is that layer's, else the open one is
 * released first and `l`'s is created (so never two at once).
 */
export async function enterLayer(s: StreamSession, l: number): Promise<LayerRunner> {
  if (!Number.isInteger(l) || l < 0 || l >= s.graphs.paths.length) throw new RangeError(`enterLayer: no layer ${l} in a ${s.graphs.paths.length}-layer model`);
  if (s.current?.layer !== l) await openLayer(s, l);
  return { session: s.current!.session, graphs: s.graphs, geometry: s.geometry, kvType: s.kvType, withKeys: s.withKeys, withValues: s.withValues, residualWidth: s.residualWidth };
}

/** Release the open layer's session (its weights and its arena), if any. */
export async function leaveLayer(s: StreamSession): Promise<void> {
  const open = s.current;
  if (!open) return;
  s.current = undefined;
  s.stats.open--;
  await open.session.release();
}

async function openLayer(s: StreamSession, l: number): Promise<void> {
  await leaveLayer(s);
  const { session, ep: used } = await openSession({ path: s.graphs.paths[l]!, externalDataDir: s.graphs.externalDataDir }, s.plan, s.threads, s.warn);
  s.ep = used;
  s.current = { layer: l, session };
  s.stats.created++;
  s.stats.open++;
  s.stats.peakOpen = Math.max(s.stats.peakOpen, s.stats.open);
}

/** Free whatever layer is open. */
export async function closeStreamSession(s: StreamSession): Promise<void> {
  await leaveLayer(s);
}
