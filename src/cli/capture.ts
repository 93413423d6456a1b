import { Command } from 'commander';
import { NotBuiltError } from '../errors.js';
import { choiceArg, intArg, intListArg, shardArg } from './parse.js';

export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description(
      'prefill RULER prompts through the capture graph and write one .npz per (task, prompt) with the attention-block input hidden states and pre-RoPE queries at sampled positions',
    )
    .option('--task <name>', 'RULER task to capture (e.g. niah_multikey_1)')
    .option('--all-tasks', 'capture all 13 RULER tasks', false)
    .option('--model <dir|repo|tiny>', 'ONNX model folder, hub repo id, or "tiny" (default: $POC_MODEL)')
    .option('--out <dir>', 'corpus folder', 'corpus')
    .option('--prompts <n>', 'prompts per task (prompt_idx 0..n-1)', intArg(1), 5)
    .option('--prompt-idx <list>', 'explicit prompt indices, e.g. 0,3,7 (overrides --prompts)', intListArg)
    .option('--source <hub|synthetic|path>', 'RULER rows: the hub dataset, offline generators, or a local parquet file/folder', 'hub')
    .option('--prompt-format <f>', 'chat (the model\'s chat template, as kvpress) or raw (BOS + context)', choiceArg(['chat', 'raw'] as const), 'chat')
    .option('--like <meta.json>', 'take tasks, prompt indices and settings from an existing corpus\'s meta.json')
    .option('--haystack <file>', 'essay text for the synthetic haystack (default: the noise haystack)')
    .option('--max-length <n>', 'truncate prompts to this many tokens', intArg(1), 16384)
    .option('--n-sink <n>', 'leading tokens never sampled (attention sink)', intArg(0), 16)
    .option('--t-sub <n>', 'positions sampled per prompt', intArg(1), 1024)
    .option('--chunk <n>', 'prefill chunk length in tokens (0 = one pass; default: 2048)', intArg(0))
    .option('--seed <n>', 'position-sampling seed (combined with task and prompt_idx)', intArg(0), 0)
    .option('--ep <ep>', 'execution provider: auto (CUDA if installed, else CPU), cuda, cpu', choiceArg(['auto', 'cuda', 'cpu'] as const), 'auto')
    .option('--with-input-ids', 'also store the prompt token ids (input_ids)', false)
    .option('--with-keys', 'also store post-RoPE keys at the sampled positions (keys)', false)
    .option('--shard <i/n>', 'take every n-th (task, prompt) job starting at i (array jobs)', shardArg)
    .option('--force', 'recompute files that already exist and are valid', false)
    .action(async () => {
      throw new NotBuiltError('capture');
    });
}
