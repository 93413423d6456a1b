import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCapture } from '../../src/capture/run-capture.js';
import { main } from '../../src/cli/main.js';
import { readCorpusMeta } from '../../src/corpus/index.js';
import { makeTinyModel, TINY_DEFAULTS } from '../../src/model/tiny/make-tiny-model.js';
import { readSafetensors, referenceForward } from './reference-llama.js';
import { halfToFloat32, openNpz } from '../../src/npz/index.js';

let root: string;
let original: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'poc-like-'));
  original = join(root, 'original');
  await makeTinyModel({ ...TINY_DEFAULTS, out: original, layers: 3, seed: 11 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const shapes = (dir: string) => Object.fromEntries(Object.entries(readSafetensors(join(dir, 'model.safetensors'))).map(([k, v]) => [k, v.shape]));

/** Run the CLI in-process; returns the exit code and what went to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(['node', 'poc', 'make-tiny-model', ...args]);
    return { code, stderr: stderr.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('make-tiny-model --like DIR (the shape-matched random twin)', () => {
  it("round trip on a builder folder: same config and tokenizer files, same tensor names and shapes, other weights (float16)", async () => {
    const twin = join(root, 'twin');
    expect((await cli(['--like', original, '--out', twin, '--seed', '1'])).code).toBe(0);
    expect(json(join(twin, 'config.json'))).toStrictEqual(json(join(original, 'config.json')));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(Buffer.compare(readFileSync(join(twin, f)), readFileSync(join(original, f)))).toBe(0);
    }
    expect(shapes(twin)).toStrictEqual(shapes(original));
    const a = readSafetensors(join(original, 'model.safetensors'))['model.layers.0.self_attn.q_proj.weight']!.values;
    const b = readSafetensors(join(twin, 'model.safetensors'))['model.layers.0.self_attn.q_proj.weight']!.values;
    expect(a.some((x, i) => x !== b[i])).toBe(true);
    const header = readFileSync(join(twin, 'model.safetensors'));
    expect(header.toString('utf8', 8, 400)).toContain('"dtype":"F16"');
  });

  it('copies every field of a config the builder did not write, --layers changing only the depth, and the twin captures', async () => {
    const hand = join(root, 'hand');
    mkdirSync(hand);
    // a hand-written Llama config: no head_dim, older rope_scaling spelling, fields the builder never writes
    const config = {
      _name_or_path: 'someone/llama-like',
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 96,
      intermediate_size: 160,
      num_hidden_layers: 4,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      vocab_size: 512,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-6,
      rope_theta: 10000.0,
      rope_scaling: { type: 'llama3', factor: 4.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 1024 },
      bos_token_id: 507,
      eos_token_id: 511,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      quantization_config: null,
      custom_field: { nested: [1, 2, 3], note: 'kept verbatim' },
    };
    writeFileSync(join(hand, 'config.json'), JSON.stringify(config));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(hand, f), readFileSync(join(original, f)));
    writeFileSync(join(hand, 'chat_template.jinja'), "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}");
    const twin = join(root, 'hand-twin');
    expect((await cli(['--like', hand, '--out', twin, '--layers', '2'])).code).toBe(0);
    expect(json(join(twin, 'config.json'))).toStrictEqual({ ...config, num_hidden_layers: 2 });
    expect(readFileSync(join(twin, 'chat_template.jinja'), 'utf8')).toContain('[{{ m');
    const w = readSafetensors(join(twin, 'model.safetensors'));
    expect(w['model.layers.1.self_attn.q_proj.weight']!.shape).toEqual([96, 96]);
    expect(w['model.layers.1.self_attn.k_proj.weight']!.shape).toEqual([32, 96]);
    expect(w['lm_head.weight']).toBeUndefined(); // tied, as the config says
    // the twin's rows equal the float64 reference forward (which reads config.json's rope scaling)
    const out = join(root, 'hand-corpus');
    const result = await runCapture({
      tasks: ['niah_single_1'], promptIdx: [0], model: twin, out, source: 'synthetic', promptFormat: 'chat', maxLength: 600,
      nSink: 16, tSub: 32, chunk: 128, seed: 0, ep: 'cpu', withInputIds: true, withKeys: false, force: false, threads: 1,
      stderr: { write: () => true, isTTY: false },
    });
    expect((await readCorpusMeta(out))!.model).toMatchObject({ num_hidden_layers: 2, head_dim: 16, num_key_value_heads: 2 });
    const r = await openNpz(result.written[0]!);
    const ids = Array.from((await r.read('input_ids')).data as Int32Array);
    const queries = halfToFloat32((await r.read('queries')).data as Uint16Array);
    const positions = Array.from((await r.read('positions')).data as Int32Array);
    await r.close();
    expect(ids[0]).toBe(507);
    const ref = referenceForward(twin, ids);
    // queries [L, H, T, d] against the reference's [T, H*d] per layer, float16 tolerance
    const T = positions.length, H = 6, d = 16;
    for (let l = 0; l < 2; l++) {
      let worst = 0, scale = 0;
      for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) {
        const got = queries[((l * H + h) * T + t) * d + k]!;
        const want = ref.queries[l]![positions[t]! * H * d + h * d + k]!;
        worst = Math.max(worst, Math.abs(got - want));
        scale = Math.max(scale, Math.abs(want));
      }
      expect(worst / scale).toBeLessThan(2e-2);
    }
  });

  it('rejects what it cannot copy with exit 1, one line, nothing written', async () => {
    const noTok = join(root, 'no-tokenizer');
    mkdirSync(noTok);
    writeFileSync(join(noTok, 'config.json'), readFileSync(join(original, 'config.json')));
    const cases: Array<[string[], RegExp]> = [
      [['--like', noTok], /has no tokenizer\.json/],
      [['--like', original, '--hidden', '128'], /--hidden cannot be combined with --like/],
      [['--preset', 'llama-3.1-8b', '--vocab', '1000'], /--vocab cannot be combined with --preset/],
      [['--like', original, '--preset', 'llama-3.1-8b'], /give one/],
    ];
    const mistral = join(root, 'mistral');
    mkdirSync(mistral);
    writeFileSync(join(mistral, 'config.json'), JSON.stringify({ ...json(join(original, 'config.json')), model_type: 'mistral', architectures: ['MistralForCausalLM'] }));
    cases.push([['--like', mistral], /not a Llama/]);
    const biased = join(root, 'biased');
    mkdirSync(biased);
    writeFileSync(join(biased, 'config.json'), JSON.stringify({ ...json(join(original, 'config.json')), attention_bias: true }));
    cases.push([['--like', biased], /bias-free/]);
    for (const [args, message] of cases) {
      const out = join(root, `bad-${readdirSync(root).length}`);
      const r = await cli([...args, '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
  });
});
