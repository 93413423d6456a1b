import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';

/**
 * glibc malloc settings for a capture. onnxruntime's CPU arena grows by large regions, which
 * glibc serves with mmap and unmaps when the session is released; the streamed prefill
 * releases a session per layer, so every layer paid its arena's page faults again (4-6 s of
 * system time per 4096-token prompt on the 8-layer bench model, +25 % CPU). With one malloc
 * arena, no mmap and no trimming, a released session's memory stays in the heap and the next
 * layer's session reuses those pages: the same CPU time as one session for all layers, and a
 * peak RSS no higher (docs/FACTS.md, "Streamed prefill"). Read by glibc once, at process start,
 * hence the relaunch; other C libraries ignore them.
 */
export const CAPTURE_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_MAX_: '0',
  MALLOC_TRIM_THRESHOLD_: String(2 ** 40),
};

/** Set in the relaunched process to the pid of the process that relaunched it (so it does not relaunch again, and knows whom to follow). */
const MARK = 'POC_MALLOC_TUNED';

/** Set to 1 to have `poc capture` / `poc demo` relaunch themselves with CAPTURE_MALLOC_ENV (opt-in, see wantsMallocRelaunch). */
export const MALLOC_OPT_IN = 'POC_MALLOC_TUNE';

/**
 * Whether `argv` (process.argv) should run in a process started with CAPTURE_MALLOC_ENV: only
 * when asked for ($POC_MALLOC_TUNE=1). The settings make streaming cheap on small models, but a
 * released session's pages then stay in one fragmented heap that grows with depth: at
 * Llama-3.1-8B's shape, 32 layers and 4,096 tokens, peak RSS passed 4.36 GiB with them and 4.08
 * GiB with mmap off alone, against 3.10 GiB with glibc's defaults (docs/FACTS.md), so by default
 * a capture keeps glibc's defaults and the one-layer memory bound.
 */
export function wantsMallocRelaunch(argv: readonly string[], env: NodeJS.ProcessEnv, platform: NodeJS.Platform): boolean {
  if (platform !== 'linux' || env[MARK] !== undefined || env[MALLOC_OPT_IN] !== '1') return false;
  const command = argv.slice(2).find((a) => !a.startsWith('-'));
  return command === 'capture' || command === 'demo';
}

/**
 * Run this CLI again in a child with CAPTURE_MALLOC_ENV and return its exit code. The child
 * shares the terminal: Ctrl-C reaches it directly (same process group), so the parent only
 * waits and does not act on SIGINT/SIGTERM itself, passing on a SIGTERM sent to it alone.
 */
export function relaunchWithMallocEnv(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, ...CAPTURE_MALLOC_ENV, [MARK]: String(process.pid) },
    });
    const onInt = () => {};
    const onTerm = () => child.kill('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 2));
    });
  });
}

/**
 * In a relaunched capture: die with the parent. A SIGKILL of the process the user started
 * (a pre-empted job, `kill -9`) must not leave this one writing on. Node 20's process.ppid is
 * fixed at start and an IPC channel's 'disconnect' did not fire here when the parent was
 * killed, so a worker thread (its own event loop: the capture's main thread may be busy for
 * seconds) compares the parent pid in /proc with the relauncher's twice a second; once this
 * process has been re-parented it ends the same way, leaving what a killed capture leaves (a temporary file
 * the next run removes).
 */
export function followParent(): void {
  // the parent's pid comes with the environment: it may already be gone by the time this starts
  const parent = Number(process.env[MARK]);
  if (!Number.isInteger(parent) || parent <= 1) return;
  const watchdog = new Worker(
    `const { readFileSync } = require('node:fs');
     const ppid = () => { const s = readFileSync('/proc/self/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); };
     const check = () => { if (ppid() !== ${parent}) process.kill(process.pid, 'SIGKILL'); };
     check();
     setInterval(check, 500);`,
    { eval: true },
  );
  watchdog.unref();
}
