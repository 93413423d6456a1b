import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's interpreter: the one apt's python3-numpy/scipy/sklearn/torch install into. */
export const PYTHON = '/usr/bin/python3';

const INSTALL_HINT =
  'the reference tests need Debian python3 with numpy/scipy/scikit-learn: apt-get install -y python3-numpy python3-scipy python3-sklearn libopenblas0-pthread';

/** Throws (failing the test, never skipping it) unless /usr/bin/python3 can import `modules`. */
export function requirePython(modules: string[] = ['numpy']): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found; ${INSTALL_HINT}`);
  const r = spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${modules.join(', ')}; ${INSTALL_HINT}\n${r.stderr}`);
}

/** Runs python code with argv (large data goes through `input`, read from stdin); returns stdout, throwing with stderr on a non-zero exit. */
export function runPython(code: string, args: string[] = [], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = spawnSync(PYTHON, ['-c', code, ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 1 << 30,
    env: options.env ?? process.env,
    input: options.input,
  });
  if (r.error) throw new Error(`python could not run: ${r.error.message}; ${INSTALL_HINT}`);
  if (r.status !== 0) {
    const hint = /No module named/.test(r.stderr) ? `; ${INSTALL_HINT}` : '';
    throw new Error(`python failed (${r.status ?? r.signal})${hint}:\n${r.stderr}`);
  }
  return r.stdout;
}

/** Runs a python reference that reads JSON on stdin and prints JSON (the statistics tests' references). */
export function runPythonJson<T>(code: string, input: unknown): T {
  return JSON.parse(runPython(code, [], { input: JSON.stringify(input), timeoutMs: 600_000 })) as T;
}
