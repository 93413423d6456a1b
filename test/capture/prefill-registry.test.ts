import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import {
  onePassConflict, openPrefiller, PREFILL_MODE_DEFS, PREFILL_MODES, prefillModesHelp, type PrefillModeName, type PrefillResult,
} from '../../src/capture/prefill/index.js';
import { planLayerPrefillBytes } from '../../src/capture/prefill/layer-by-layer.js';
import { referenceForward, type RefForward } from '../model/reference-llama.js';
import { expectRowsMatch, POSITIONS, refBuffers, T } from '../model/prefill-helpers.js';

// Every mode of the registry through the one interface, on a float32 tiny model (3 layers,
// grouped-query attention): the rows against the float64 reference and the chunked prefill
// (tolerances of expectRowsMatch: half a float16 ulp plus 1e-4 of the rms), and the host bytes
// each reports against independent arithmetic on the model's shapes.

const o = { ...TINY_DEFAULTS, layers: 3, dtype: 'float32' as const };
const d = o.hidden / o.heads;
const CHUNK = 16;
const ids = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % (o.vocab - 5));
const positions = Int32Array.from(POSITIONS);
const P = POSITIONS.length;
/** rows of hidden, queries, keys and values, float16 */
const ROWS_BYTES = o.layers * P * (o.hidden + o.heads * d + 2 * o.kvHeads * d) * 2;

let dir = '';
let ref: RefForward;
const results = new Map<PrefillModeName, PrefillResult>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poc-prefill-registry-'));
  await makeTinyModel({ ...o, out: dir });
  ref = referenceForward(dir, Array.from(ids));
  for (const name of Object.keys(PREFILL_MODE_DEFS) as PrefillModeName[]) {
    const p = await PREFILL_MODE_DEFS[name].open(dir, CHUNK, { ep: 'cpu', threads: 1, withKeys: true, withValues: true, warn: () => {} });
    try {
      expect(p.mode).toBe(name);
      expect(p.geometry).toMatchObject({ nLayers: o.layers, nHeads: o.heads, nKvHeads: o.kvHeads, headDim: d, hiddenSize: o.hidden });
      const seen: number[] = [];
      results.set(name, await p.prefill(ids, positions, (q) => seen.push(q.tokensDone)));
      // progress ends at the whole prompt, never goes back
      expect(seen.at(-1), name).toBe(T);
      expect([...seen].sort((a, b) => a - b), name).toEqual(seen);
    } finally {
      await p.close();
    }
  }
});
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('the prefill registry', () => {
  it('holds the four --prefill modes and one-pass, each under its own name', () => {
    expect(Object.keys(PREFILL_MODE_DEFS).sort()).toEqual([...PREFILL_MODES, 'one-pass'].sort());
    for (const [name, def] of Object.entries(PREFILL_MODE_DEFS)) expect(def.name).toBe(name);
  });

  it.each(Object.keys(PREFILL_MODE_DEFS))('%s: rows match the float64 reference and the chunked prefill', (name) => {
    const r = results.get(name as PrefillModeName)!;
    expectRowsMatch(r.buffers, refBuffers(ref, POSITIONS, o), results.get('chunks')!.buffers, o, CHUNK, true, true);
  });

  it('reports the host bytes each mode holds: every layer\'s KV cache in chunks, one layer\'s and the residual in layers and stream, none in loop and one-pass', () => {
    const layerKv = 2 * T * o.kvHeads * d * 4; // float32 model: one layer's K and V for the prompt
    const residual = T * o.hidden * 4;
    const want: Record<PrefillModeName, { residualBytes: number; kvBytes: number }> = {
      chunks: { residualBytes: 0, kvBytes: o.layers * layerKv },
      layers: { residualBytes: residual, kvBytes: layerKv },
      stream: { residualBytes: residual, kvBytes: layerKv },
      loop: { residualBytes: 0, kvBytes: 0 },
      'one-pass': { residualBytes: 0, kvBytes: 0 },
    };
    for (const [name, w] of Object.entries(want)) {
      const h = results.get(name as PrefillModeName)!.hostBytes;
      expect(h, name).toEqual({ ...w, rowsBytes: ROWS_BYTES, totalBytes: w.residualBytes + w.kvBytes + ROWS_BYTES });
    }
    const g = { nLayers: o.layers, nHeads: o.heads, nKvHeads: o.kvHeads, headDim: d, hiddenSize: o.hidden } as Parameters<typeof planLayerPrefillBytes>[0];
    expect(results.get('layers')!.hostBytes).toEqual(planLayerPrefillBytes(g, T, P, { withKeys: true, withValues: true, residualWidth: 1, elemBytes: 4 }));
  });
});

describe('what the CLI takes from the registry', () => {
  it('--chunk 0 opens the one-pass graph whatever the mode', async () => {
    for (const mode of PREFILL_MODES) {
      const p = await openPrefiller(dir, mode, 0, { ep: 'cpu', threads: 1, warn: () => {} });
      await p.close();
      expect(p.mode, mode).toBe('one-pass');
    }
    await expect(openPrefiller(dir, 'layers', -1, { ep: 'cpu' })).rejects.toThrow('--chunk must be a whole number of tokens >= 0, got -1');
  });

  it('refuses --chunk 0 with the layer and loop modes, not with chunks or without --prefill', () => {
    expect(onePassConflict('layers', 0)).toBe('--chunk 0 prefills the whole graph in one pass, not layer by layer: drop --prefill layers or give --chunk N > 0');
    expect(onePassConflict('stream', 0)).toBe('--chunk 0 prefills the whole graph in one pass, not layer by layer: drop --prefill stream or give --chunk N > 0');
    expect(onePassConflict('loop', 0)).toBe('--chunk 0 prefills the whole graph in one pass, not in a loop over chunks: drop --prefill loop or give --chunk N > 0');
    expect(onePassConflict('chunks', 0)).toBeUndefined();
    expect(onePassConflict(undefined, 0)).toBeUndefined();
    for (const mode of PREFILL_MODES) expect(onePassConflict(mode, 16)).toBeUndefined();
  });

  it('lists each --prefill mode with its line, in order', () => {
    const help = prefillModesHelp();
    const at = PREFILL_MODES.map((m) => help.indexOf(`${m}: ${PREFILL_MODE_DEFS[m].help}`));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
