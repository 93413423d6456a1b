import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCapture } from '../../src/capture/run-capture.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { runFidelity, type FidelityRunResult } from '../../src/fidelity/run.js';
import { SCORERS } from '../../src/fidelity/press-scorers.js';
import { requirePython, runPython } from '../helpers/python.js';
import { NUMPY_PRESS } from './numpy-press.js';

/**
 * The press simulation on a corpus the capture itself wrote (--with-keys --with-values on the
 * tiny Llama, llama3 RoPE scaling): the keys were rotated by the ONNX graph and the future
 * queries are rotated by the simulation, so agreement with numpy (which rotates the queries
 * from the formula) also checks that both use one RoPE convention end to end.
 */

const quiet = { write: () => true, isTTY: false };
const RATIOS = [0.25, 0.5, 0.75, 0.9];
let root: string;
let result: FidelityRunResult;
let config: { rope_theta: number; rope_scaling: unknown; num_attention_heads: number; num_key_value_heads: number };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poc-press-capture-'));
  const model = join(root, 'model');
  await makeTinyModel({ ...TINY_DEFAULTS, out: model });
  config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
  await runCapture({
    tasks: ['vt', 'niah_single_1'], promptIdx: [0], model, out: join(root, 'corpus'), source: 'synthetic', promptFormat: 'chat',
    maxLength: 1200, nSink: 16, tSub: 96, seed: 0, ep: 'cpu', withInputIds: false, withKeys: true, withValues: true, force: false, threads: 1, stderr: quiet,
  });
  result = await runFidelity({
    corpus: join(root, 'corpus'), out: join(root, 'out', 'fidelity.md'), kMax: 3, future: 0.2, keep: [0.5], ratios: RATIOS,
    progressStream: null, threads: 1, kernel: { precision: 'float64' }, pressKeptSets: true,
  });
}, 300_000);
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('poc fidelity on a captured corpus (--with-keys --with-values)', () => {
  it('simulates every press on every unit of the capture', () => {
    const group = config.num_attention_heads / config.num_key_value_heads;
    expect(group).toBeGreaterThan(1);
    expect(result.rows).toHaveLength(2 * TINY_DEFAULTS.layers! * config.num_key_value_heads);
    for (const r of result.rows) {
      expect(r.status).toBe('ok');
      for (const s of SCORERS) expect(r.press!.err[s]).toHaveLength(RATIOS.length);
    }
    const report = readFileSync(join(root, 'out', 'fidelity.md'), 'utf8');
    expect(report).toMatch(/at 50 % compression/i);
  });

  it('expected_attention, expected_attention_novnorm and oracle agree with numpy within 1e-6 (kept sets exactly)', () => {
    requirePython(['numpy']);
    const group = config.num_attention_heads / config.num_key_value_heads;
    const units = result.rows.map((r) => ({ path: join(root, 'corpus', `prompt_${r.task}__p${r.promptIdx}.npz`), layer: r.layer, head: r.head }));
    const refs = JSON.parse(runPython(NUMPY_PRESS, [String(group), String(config.rope_theta), JSON.stringify(RATIOS), JSON.stringify(config.rope_scaling)], { input: JSON.stringify(units) })) as Array<Record<string, number & number[]>>;
    result.rows.forEach((r, u) => {
      for (const s of ['expected_attention', 'expected_attention_novnorm', 'oracle'] as const) {
        RATIOS.forEach((ratio, i) => {
          expect([...r.press!.kept![s]![i]!].sort((a, b) => a - b), `${s}@${ratio} unit ${u}`).toEqual(refs[u]![`kept_${s}@${ratio}`]);
          expect(Math.abs(r.press!.err[s][i]! - refs[u]![`err_${s}@${ratio}`]!)).toBeLessThan(1e-6);
          expect(Math.abs(r.press!.mass[s][i]! - refs[u]![`mass_${s}@${ratio}`]!)).toBeLessThan(1e-6);
        });
      }
    });
  }, 120_000);
});
