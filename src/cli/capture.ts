import { Command } from 'commander';
import { runCapture, DEFAULT_CHUNK, type CaptureOptions } from '../capture/run-capture.js';
import { onePassConflict, PREFILL_MODE_DEFS, PREFILL_MODES, prefillModesHelp, type PrefillMode } from '../capture/prefill/index.js';
import { UserError } from '../errors.js';
import type { EpChoice } from '../model/runtime/provider-plan.js';
import { readLikeMeta } from '../ruler/like.js';
import { taskCatalog } from '../ruler/tasks.js';
import { choiceArg, intArg, intListArg, shardArg, type Shard } from './parse.js';
import { withInterruptSignal } from './signals.js';

interface CaptureFlags {
  task?: string;
  allTasks: boolean;
  model?: string;
  out: string;
  prompts: number;
  promptIdx?: number[];
  source: string;
  promptFormat: 'chat' | 'raw';
  like?: string;
  haystack?: string;
  maxLength: number;
  nSink: number;
  tSub: number;
  chunk?: number;
  prefill?: PrefillMode;
  seed: number;
  ep: EpChoice;
  withInputIds: boolean;
  withKeys: boolean;
  withValues: boolean;
  shard?: Shard;
  force: boolean;
}

export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description(
      'prefill RULER prompts through the capture graph and write one prompt_{task}__p{j}.npz per (task, prompt) ' +
        'with the attention-block input hidden states and pre-RoPE queries at sampled positions (and, on request, ' +
        'the input ids, post-RoPE keys and value vectors), plus meta.json. ' +
        'Resumable: valid files of the same settings are skipped.',
    )
    .option('--task <name>', 'RULER task to capture (e.g. niah_multikey_1)')
    .option('--all-tasks', 'capture all 13 RULER tasks (the 11 synthetic ones with --source synthetic)', false)
    .option('--model <dir|repo|tiny>', 'ONNX model folder, hub repo id, or "tiny" (default: $POC_MODEL)')
    .option('--out <dir>', 'corpus folder', 'corpus')
    .option('--prompts <n>', 'prompts per task (prompt_idx 0..n-1)', intArg(1), 5)
    .option('--prompt-idx <list>', 'explicit prompt indices, e.g. 0,3,7 (overrides --prompts)', intListArg)
    .option('--source <hub|synthetic|path>', 'RULER rows: the hub dataset simonjegou/ruler, offline generators, or a local parquet file/folder', 'hub')
    .option('--prompt-format <f>', "chat (the model's chat template, as kvpress) or raw (BOS + context)", choiceArg(['chat', 'raw'] as const), 'chat')
    .option('--like <meta.json>', "re-capture an existing corpus: its tasks, prompt indices and capture settings (flags you give still win)")
    .option('--haystack <file>', 'essay text for the synthetic haystack (default: the noise haystack)')
    .option('--max-length <n>', 'truncate prompts to this many tokens', intArg(1), 16384)
    .option('--n-sink <n>', 'leading tokens never sampled (attention sink)', intArg(0), 16)
    .option('--t-sub <n>', 'positions sampled per prompt', intArg(1), 1024)
    .option('--chunk <n>', `prefill chunk length in tokens (default ${DEFAULT_CHUNK}; stream: chunks whose attention scores take <= 64 MiB); 0 = ${PREFILL_MODE_DEFS['one-pass'].help}`, intArg(0))
    .option(
      '--prefill <mode>',
      `${prefillModesHelp()}. ` +
        'All give the same rows up to float rounding. Default on the CPU: stream where it costs at most ~10 % more than layers, at a fraction of the memory (layers of >= 32 MiB of weights in float32; in float16 with --max-length >= 16384), and for any model whose weights would not fit host memory (one line says so), else layers; on CUDA: layers, or stream when the weights would not fit the free device memory (one line says so)',
      choiceArg(PREFILL_MODES),
    )
    .option('--seed <n>', 'position-sampling seed (combined with task and prompt_idx)', intArg(0), 0)
    .option(
      '--ep <ep>',
      'execution provider: auto (CUDA if installed, else a hardware WebGPU adapter, else CPU; never a software adapter; one line says which), ' +
        'cuda (CUDA 12 + cuDNN 9, after `npm run setup:cuda`), webgpu (onnxruntime\'s bundled WebGPU over Vulkan/Metal/D3D12, on any adapter, software ones included), cpu',
      choiceArg(['auto', 'cuda', 'webgpu', 'cpu'] as const),
      'auto',
    )
    .option('--with-input-ids', 'also store the prompt token ids (input_ids)', false)
    .option('--with-keys', 'also store post-RoPE keys at the sampled positions (keys)', false)
    .option(
      '--with-values',
      'also store the value vectors at the sampled positions (values, float16 [n_layers, n_kv_heads, T_sub, head_dim]): ' +
        'the value projection v_proj of the attention input, as the KV cache holds them (no RoPE); ' +
        'needed by the press simulation of poc fidelity. A corpus captured without values is not resumed with them: capture into another --out',
      false,
    )
    .option('--shard <i/n>', 'take every n-th (task, prompt) job starting at i (array jobs)', shardArg)
    .option('--force', 'recompute files that already exist and are valid', false)
    .action(async (flags: CaptureFlags, cmd: Command) => {
      const explicit = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const opts = captureOptionsFromFlags(flags, explicit);
      await withInterruptSignal((signal) => runCapture({ ...opts, signal }));
    });
}

/** Turns parsed flags (and --like) into the runner's options; `explicit` tells flags typed from defaults. */
export function captureOptionsFromFlags(flags: CaptureFlags, explicit: (name: string) => boolean): CaptureOptions {
  const chosen = [flags.task !== undefined, flags.allTasks, flags.like !== undefined].filter(Boolean).length;
  if (chosen === 0) throw new UserError('no task given: pass --task NAME, --all-tasks, or --like META.json');
  if (chosen > 1) throw new UserError('give only one of --task, --all-tasks and --like');
  const catalog = taskCatalog();
  let tasks: string[];
  let promptIdxByTask: Record<string, number[]> | undefined;
  const settings = {
    maxLength: flags.maxLength, nSink: flags.nSink, tSub: flags.tSub, seed: flags.seed, source: flags.source, promptFormat: flags.promptFormat,
  };
  if (flags.like) {
    const like = readLikeMeta(flags.like);
    tasks = Object.keys(like.tasks);
    promptIdxByTask = like.tasks;
    if (!explicit('maxLength') && like.capture.maxLength !== undefined) settings.maxLength = like.capture.maxLength;
    if (!explicit('nSink') && like.capture.nSink !== undefined) settings.nSink = like.capture.nSink;
    if (!explicit('tSub') && like.capture.tSub !== undefined) settings.tSub = like.capture.tSub;
    if (!explicit('seed') && like.capture.seed !== undefined) settings.seed = like.capture.seed;
    if (!explicit('source') && like.capture.source !== undefined) settings.source = like.capture.source;
    if (!explicit('promptFormat') && like.capture.promptFormat !== undefined) settings.promptFormat = like.capture.promptFormat;
  } else if (flags.allTasks) {
    tasks = settings.source === 'synthetic' ? catalog.synthetic_tasks : catalog.tasks;
  } else {
    tasks = [flags.task!];
  }
  const conflict = onePassConflict(flags.prefill, flags.chunk);
  if (conflict) throw new UserError(conflict);
  const promptIdx = flags.promptIdx ?? Array.from({ length: flags.prompts }, (_, i) => i);
  return {
    tasks,
    promptIdx,
    promptIdxByTask: flags.promptIdx ? undefined : promptIdxByTask,
    model: flags.model,
    out: flags.out,
    haystack: flags.haystack,
    chunk: flags.chunk,
    prefill: flags.prefill,
    ep: flags.ep,
    withInputIds: flags.withInputIds,
    withKeys: flags.withKeys,
    withValues: flags.withValues,
    shard: flags.shard,
    force: flags.force,
    ...settings,
  };
}
