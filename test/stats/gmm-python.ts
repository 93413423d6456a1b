/**
 * Runs a reference computation in Debian's python (numpy, scipy, scikit-learn) with a JSON
 * payload on stdin and JSON on stdout. A missing package fails the test with the command
 * that installs it, never a silent pass.
 */
import { spawnSync } from 'node:child_process';

const PRELUDE = `
import json, sys
try:
    import numpy as np, scipy, sklearn
except ImportError as e:
    print("MISSING " + str(e)); sys.exit(3)
inp = json.load(sys.stdin)
def A(name, *shape):
    return np.asarray(inp[name], dtype=np.float64).reshape(shape) if shape else np.asarray(inp[name], dtype=np.float64)
def out(**kw):
    print(json.dumps({k: (v.tolist() if hasattr(v, 'tolist') else v) for k, v in kw.items()}))
`;

/** Typed arrays become plain lists; the python code reads them with A(name, *shape) and answers with out(...). */
export function python<T = Record<string, unknown>>(code: string, payload: Record<string, unknown>): T {
  const input = JSON.stringify(payload, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v));
  const p = spawnSync('/usr/bin/python3', ['-c', PRELUDE + code], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (p.error) throw new Error(`cannot run /usr/bin/python3 (${p.error.message}): apt-get install python3 python3-numpy python3-scipy python3-sklearn`);
  if (p.status === 3) throw new Error(`${p.stdout.trim()}: apt-get install python3-numpy python3-scipy python3-sklearn`);
  if (p.status !== 0) throw new Error(`reference python failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').pop() as string) as T;
}

/** Relative difference |a - b| / max(|b|, tiny). */
export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
}
