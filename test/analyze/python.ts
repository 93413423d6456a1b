import { spawnSync } from 'node:child_process';

/**
 * Runs a Python reference with Debian's /usr/bin/python3 (numpy/scipy/scikit-learn), feeding
 * `input` as JSON on stdin and returning the JSON it prints; missing packages fail loudly.
 */
export function runPython<T>(code: string, input: unknown): T {
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`cannot run /usr/bin/python3 (${r.error.message}); apt-get install python3-numpy python3-scipy`);
  if (r.status !== 0) {
    if (/No module named/.test(r.stderr)) {
      throw new Error(`python reference is missing a package: apt-get install python3-numpy python3-scipy python3-sklearn\n${r.stderr}`);
    }
    throw new Error(`python reference failed:\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}
