import { describe, expect, it } from 'vitest';
import { float32ToHalf, halfToFloat32 } from '../../src/npz/index.js';
import { requirePython, runPython } from '../helpers/python.js';

describe('float16', () => {
  it('decodes every half bit pattern like numpy and re-encodes it exactly (all 65536)', () => {
    requirePython();
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const ours = halfToFloat32(bits);
    const numpyHex = runPython(
      'import numpy as np,sys; sys.stdout.write(np.arange(65536,dtype=np.uint16).view(np.float16).astype(np.float32).tobytes().hex())',
    );
    const ref = new Float32Array(Uint8Array.from(Buffer.from(numpyHex, 'hex')).buffer);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(ref[i])) expect(Number.isNaN(ours[i])).toBe(true);
      else expect(ours[i]).toBe(ref[i]);
    }
    const back = float32ToHalf(ours);
    for (let i = 0; i < 65536; i++) {
      if (!Number.isNaN(ours[i])) expect(back[i]).toBe(bits[i]);
    }
  });

  it('rounds float32 to half like numpy (ties to even, subnormals, overflow)', () => {
    requirePython();
    const values = new Float32Array(20000);
    let s = 1;
    for (let i = 0; i < values.length; i++) {
      s = (s * 16807) % 2147483647;
      const mag = 2 ** ((s % 44) - 28); // 2^-28 .. 2^15: underflow through overflow
      values[i] = (s & 1 ? -1 : 1) * mag * (1 + (s % 4096) / 4096);
    }
    values.set([0.5 * 2 ** -24, 1.5 * 2 ** -24, 65504, 65520, 65519.99, 1 + 2 ** -11, 1 + 3 * 2 ** -11], 0);
    const hex = Buffer.from(values.buffer).toString('hex');
    const out = runPython(
      'import numpy as np,sys; a=np.frombuffer(bytes.fromhex(sys.stdin.read()),dtype=np.float32); sys.stdout.write(a.astype(np.float16).view(np.uint16).tobytes().hex())',
      [],
      { input: hex },
    );
    const ref = new Uint16Array(Uint8Array.from(Buffer.from(out, 'hex')).buffer);
    expect(Array.from(float32ToHalf(values))).toEqual(Array.from(ref));
  });
});
