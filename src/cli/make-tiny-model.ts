import { Command } from 'commander';
import { makeTinyModel, type MakeTinyModelOptions } from '../model/make-tiny-model.js';
import { choiceArg, floatArg, intArg } from './parse.js';

export function registerMakeTinyModel(program: Command): void {
  program
    .command('make-tiny-model')
    .description('build a small random Llama model folder (config, safetensors, ONNX, tokenizer) offline')
    .requiredOption('--out <dir>', 'folder to write the model into')
    .option('--layers <n>', 'decoder layers', intArg(1, 256), 2)
    .option('--hidden <n>', 'hidden size', intArg(8), 64)
    .option('--heads <n>', 'query heads', intArg(1), 4)
    .option('--kv-heads <n>', 'key/value heads (GQA groups; must divide --heads)', intArg(1), 2)
    .option('--intermediate <n>', 'MLP intermediate size', intArg(1), 128)
    .option('--vocab <n>', 'vocabulary size (>= 256 byte tokens + merges + specials)', intArg(300), 512)
    .option('--max-position <n>', 'max_position_embeddings', intArg(16), 131072)
    .option('--rope-theta <x>', 'RoPE base', floatArg(1), 500000)
    .option('--seed <n>', 'weight seed (same seed and options: byte-identical folder)', intArg(0), 0)
    .option('--dtype <t>', 'weight dtype', choiceArg(['float32', 'float16'] as const), 'float32')
    .option('--style <s>', 'ONNX export style to mirror', choiceArg(['optimum', 'genai'] as const), 'optimum')
    .action(async (opts: MakeTinyModelOptions) => {
      const result = await makeTinyModel(opts);
      const total = result.files.reduce((a, f) => a + f.bytes, 0);
      process.stdout.write(`wrote ${result.files.length} files (${(total / 1e6).toFixed(2)} MB) to ${result.dir}\n`);
    });
}
