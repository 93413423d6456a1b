import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ensureTinyModel, makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { main } from '../../src/cli/main.js';
import { readSafetensors } from './reference-llama.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'poc-tiny-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('make-tiny-model', () => {
  it('writes a Hugging Face folder: LlamaConfig, HF tensor names and [out, in] layouts', async () => {
    const dir = fresh();
    const r = await makeTinyModel({ ...TINY_DEFAULTS, out: dir, layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 64,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      intermediate_size: 96,
      num_hidden_layers: 2,
      rope_scaling: { rope_type: 'llama3', factor: 8 },
      torch_dtype: 'float32',
      vocab_size: 512,
    });
    const w = readSafetensors(join(dir, 'model.safetensors'));
    expect(w['model.embed_tokens.weight']!.shape).toEqual([512, 64]);
    expect(w['model.layers.1.self_attn.q_proj.weight']!.shape).toEqual([64, 64]);
    expect(w['model.layers.1.self_attn.k_proj.weight']!.shape).toEqual([32, 64]);
    expect(w['model.layers.0.mlp.down_proj.weight']!.shape).toEqual([64, 96]);
    expect(w['lm_head.weight']!.shape).toEqual([512, 64]);
    const norm = w['model.layers.0.input_layernorm.weight']!.values;
    expect(norm.some((x) => Math.abs(x - 1) > 0.05)).toBe(true);
    expect(Object.keys(w).length).toBe(1 + 2 * 9 + 2);
    expect(existsSync(join(dir, 'model.onnx_data'))).toBe(true);
    {
      expect(r.files.map((f) => f.name)).toEqual(expect.arrayContaining(['tokenizer.json', 'tokenizer_config.json']));
      const tc = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
      const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
      const bos = tok.added_tokens.find((t: { content: string }) => t.content === '<|begin_of_text|>');
      const eot = tok.added_tokens.find((t: { content: string }) => t.content === '<|eot_id|>');
      expect(bos.id).toBe(cfg.bos_token_id);
      expect(cfg.eos_token_id).toContain(eot.id);
      expect(tc.chat_template).toContain('Cutting Knowledge Date');
    }
  });

  it('is deterministic: same seed and options give a byte-identical folder, another seed differs', async () => {
    const a = fresh(), b = fresh(), c = fresh();
    await makeTinyModel({ ...TINY_DEFAULTS, out: a, seed: 7 });
    await makeTinyModel({ ...TINY_DEFAULTS, out: b, seed: 7 });
    await makeTinyModel({ ...TINY_DEFAULTS, out: c, seed: 8 });
    const files = readdirSync(a).sort();
    expect(readdirSync(b).sort()).toEqual(files);
    for (const f of files) expect(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f)))).toBe(0);
    expect(Buffer.compare(readFileSync(join(a, 'model.safetensors')), readFileSync(join(c, 'model.safetensors')))).not.toBe(0);
    const g1 = fresh(), g2 = fresh();
    await makeTinyModel({ ...TINY_DEFAULTS, out: g1, seed: 7, style: 'genai', dtype: 'float16', maxPosition: 512 });
    await makeTinyModel({ ...TINY_DEFAULTS, out: g2, seed: 7, style: 'genai', dtype: 'float16', maxPosition: 512 });
    for (const f of readdirSync(g1)) expect(Buffer.compare(readFileSync(join(g1, f)), readFileSync(join(g2, f)))).toBe(0);
    expect(readdirSync(g1)).toContain('model.onnx.data');
  });

  it('ensureTinyModel builds once per option set under the cache folder', async () => {
    const cache = fresh();
    const a = await ensureTinyModel({ layers: 1 }, cache);
    const mtime = statSync(join(a, 'model.onnx')).mtimeMs;
    expect(await ensureTinyModel({ layers: 1 }, cache)).toBe(a);
    expect(statSync(join(a, 'model.onnx')).mtimeMs).toBe(mtime);
    const b = await ensureTinyModel({ layers: 1, seed: 3 }, cache);
    expect(b).not.toBe(a);
    expect(JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')).num_hidden_layers).toBe(1);
  });

  it('ensureTinyModel is safe when several builders start at once (array tasks sharing a cache)', async () => {
    const cache = fresh();
    // the same pid builds four times at once: temporary names must not collide even then
    const dirs = await Promise.all([0, 1, 2, 3].map(() => ensureTinyModel({ layers: 1 }, cache)));
    expect(new Set(dirs).size).toBe(1);
    const reference = join(fresh(), 'ref');
    await makeTinyModel({ ...TINY_DEFAULTS, layers: 1, out: reference });
    expect(readdirSync(dirs[0]!).sort()).toEqual(readdirSync(reference).sort());
    for (const f of readdirSync(reference)) expect(Buffer.compare(readFileSync(join(dirs[0]!, f)), readFileSync(join(reference, f))), f).toBe(0);
    // no private build folder or temporary file is left beside or inside it
    expect(readdirSync(join(cache, 'tiny-models'))).toEqual([basename(dirs[0]!)]);
  });

  it('ensureTinyModel replaces a half-built folder', async () => {
    const cache = fresh();
    const dir = await ensureTinyModel({ layers: 1 }, cache);
    rmSync(join(dir, 'tokenizer_config.json'));
    writeFileSync(join(dir, 'model.onnx'), 'half');
    expect(await ensureTinyModel({ layers: 1 }, cache)).toBe(dir);
    expect(readFileSync(join(dir, 'model.onnx')).length).toBeGreaterThan(100);
    expect(readdirSync(join(cache, 'tiny-models'))).toEqual([basename(dir)]);
  });

  it('keeps hidden states O(1) through 8 layers (no vanishing or exploding residual stream)', async () => {
    const dir = fresh();
    await makeTinyModel({ ...TINY_DEFAULTS, out: dir, layers: 8 });
    const { referenceForward } = await import('./reference-llama.js');
    const ref = referenceForward(dir, Array.from({ length: 12 }, (_, i) => i * 5 + 3));
    for (const q of ref.queries) {
      const rms = Math.sqrt(q.reduce((a, x) => a + x * x, 0) / q.length);
      expect(rms).toBeGreaterThan(0.3);
      expect(rms).toBeLessThan(5);
    }
  });

  it('the CLI writes a folder, and rejects inconsistent sizes with exit 1 writing nothing', async () => {
    const good = join(fresh(), 'm');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['node', 'poc', 'make-tiny-model', '--out', good, '--layers', '1', '--style', 'optimum'])).toBe(0);
      expect(JSON.parse(readFileSync(join(good, 'config.json'), 'utf8')).num_hidden_layers).toBe(1);
      const bad = join(fresh(), 'm');
      expect(await main(['node', 'poc', 'make-tiny-model', '--out', bad, '--heads', '3'])).toBe(1);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/must be a multiple of --heads/);
      expect(existsSync(bad)).toBe(false);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  });
});
