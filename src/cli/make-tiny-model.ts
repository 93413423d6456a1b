import { Command } from 'commander';
import { UserError } from '../errors.js';
import { stderrProgress } from '../hub/progress.js';
import { makeTinyModel, TINY_DEFAULTS, type MakeTinyModelOptions } from '../model/tiny/make-tiny-model.js';
import { PRESET_NAMES } from '../model/tiny/presets.js';
import { choiceArg, floatArg, intArg } from './parse.js';
import { withInterruptSignal } from './signals.js';

// sizes a preset or --like folder fixes; giving one with them is a contradiction
const SHAPE_FLAGS = ['hidden', 'heads', 'kvHeads', 'intermediate', 'vocab', 'maxPosition', 'ropeTheta'] as const;
const FLAG_NAMES: Record<(typeof SHAPE_FLAGS)[number], string> = {
  hidden: '--hidden',
  heads: '--heads',
  kvHeads: '--kv-heads',
  intermediate: '--intermediate',
  vocab: '--vocab',
  maxPosition: '--max-position',
  ropeTheta: '--rope-theta',
};

export function registerMakeTinyModel(program: Command): void {
  program
    .command('make-tiny-model')
    .description(
      'build a random-weight Llama model folder (config, safetensors, ONNX, tokenizer) offline: a small one for tests, ' +
        "Llama-3.1-8B-Instruct's shape (--preset), or the shape-matched random twin of a model folder (--like)",
    )
    .requiredOption('--out <dir>', 'folder to write the model into')
    .option('--preset <name>', `a published model's config.json and real tokenizer, random weights (${PRESET_NAMES.join(', ')})`, choiceArg(PRESET_NAMES))
    .option('--like <dir>', "a model folder whose config.json (every field) and tokenizer files the random twin copies: the null model to capture beside it")
    .option('--layers <n>', 'decoder layers (default 2; with --preset/--like the model\'s own)', intArg(1, 256))
    .option('--hidden <n>', 'hidden size', intArg(8), TINY_DEFAULTS.hidden)
    .option('--heads <n>', 'query heads', intArg(1), TINY_DEFAULTS.heads)
    .option('--kv-heads <n>', 'key/value heads (GQA groups; must divide --heads)', intArg(1), TINY_DEFAULTS.kvHeads)
    .option('--intermediate <n>', 'MLP intermediate size', intArg(1), TINY_DEFAULTS.intermediate)
    .option('--vocab <n>', 'vocabulary size (>= 256 byte tokens + merges + specials)', intArg(300), TINY_DEFAULTS.vocab)
    .option('--max-position <n>', 'max_position_embeddings', intArg(16), TINY_DEFAULTS.maxPosition)
    .option('--rope-theta <x>', 'RoPE base', floatArg(1), TINY_DEFAULTS.ropeTheta)
    .option('--seed <n>', 'weight seed (same seed and options: byte-identical folder)', intArg(0), 0)
    .option('--dtype <t>', 'weight dtype (default float32; float16 with --preset/--like)', choiceArg(['float32', 'float16'] as const))
    .option('--style <s>', 'ONNX export style to mirror', choiceArg(['optimum', 'genai'] as const), 'optimum')
    .addHelpText(
      'after',
      '\nWeights are drawn and written one tensor at a time: host memory stays about the largest tensor\n' +
        "(Llama-3.1-8B's 1 GiB embedding) whatever the model's size; --preset llama-3.1-8b writes ≈ 32 GB (16 GB\n" +
        'safetensors + 16 GB ONNX external data) at 32 layers.',
    )
    .action(async (opts: MakeTinyModelOptions, cmd: Command) => {
      const copying = opts.preset !== undefined || opts.like !== undefined;
      if (copying) {
        for (const key of SHAPE_FLAGS) {
          if (cmd.getOptionValueSource(key) === 'cli') {
            throw new UserError(`${FLAG_NAMES[key]} cannot be combined with ${opts.preset ? '--preset' : '--like'}: the model fixes its shape (only --layers may change)`);
          }
        }
      }
      const o: MakeTinyModelOptions = {
        ...opts,
        layers: opts.layers ?? (copying ? undefined : TINY_DEFAULTS.layers),
        dtype: opts.dtype ?? (copying ? 'float16' : 'float32'),
      };
      o.progress = (totalBytes) => stderrProgress('make-tiny-model', totalBytes);
      const result = await withInterruptSignal((signal) => makeTinyModel({ ...o, signal }));
      const total = result.files.reduce((a, f) => a + f.bytes, 0);
      process.stdout.write(`wrote ${result.files.length} files (${(total / 1e6).toFixed(2)} MB) to ${result.dir}\n`);
    });
}
