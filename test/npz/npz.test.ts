import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, stat, truncate, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNpzWriter, openNpz, writeNpz, NpzError } from '../../src/npz/index.js';
import type { NdArray } from '../../src/npz/types.js';
import { requirePython, runPython } from '../helpers/python.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'poc-npz-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const values = (a: NdArray) => Array.from(a.data as ArrayLike<unknown>);

/** Arrays numpy builds from the same formulas in PY_ARRAYS below. */
function expectedArrays(): Record<string, NdArray> {
  const h = new Uint16Array(2 * 3 * 4 * 5);
  for (let i = 0; i < h.length; i++) h[i] = (i * 331) % 31744; // finite halves only
  return {
    hidden: { dtype: 'float16', shape: [2, 3, 4, 5], data: h },
    f32: { dtype: 'float32', shape: [6], data: Float32Array.from([0, 1.5, -2.25, 3e-38, 1e38, -0]) },
    f64: { dtype: 'float64', shape: [2, 2], data: Float64Array.from([Math.PI, -Math.E, 1e-300, 5e300]) },
    positions: { dtype: 'int32', shape: [5], data: Int32Array.from([16, 17, 100, 2 ** 31 - 1, -5]) },
    k_len: { dtype: 'int64', shape: [], data: BigInt64Array.from([16384n]) },
    big: { dtype: 'int64', shape: [3], data: BigInt64Array.from([-(2n ** 62n), 0n, 2n ** 62n + 7n]) },
    bytes: { dtype: 'uint8', shape: [4], data: Uint8Array.from([0, 1, 128, 255]) },
    mask: { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    task: { dtype: 'unicode', shape: [], data: ['niah_multikey_1'], itemChars: 15 },
    empty: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  };
}

const PY_ARRAYS = `
import numpy as np
def arrays():
    return dict(
        hidden=(np.arange(120, dtype=np.int64) * 331 % 31744).astype(np.uint16).view(np.float16).reshape(2, 3, 4, 5),
        f32=np.array([0, 1.5, -2.25, 3e-38, 1e38, -0.0], dtype=np.float32),
        f64=np.array([[np.pi, -np.e], [1e-300, 5e300]]),
        positions=np.array([16, 17, 100, 2**31 - 1, -5], dtype=np.int32),
        k_len=np.int64(16384),
        big=np.array([-(2**62), 0, 2**62 + 7], dtype=np.int64),
        bytes=np.array([0, 1, 128, 255], dtype=np.uint8),
        mask=np.array([True, False, True]),
        task=np.array('niah_multikey_1'),
        empty=np.zeros((0, 4), dtype=np.float32),
    )
`;

describe('npz container', () => {
  it('round-trips every dtype through a file, reading fields one at a time', async () => {
    const path = join(dir, 'rt.npz');
    const arrays = expectedArrays();
    await writeNpz(path, arrays);
    const r = await openNpz(path);
    expect(r.fields.map((f) => f.name)).toEqual(Object.keys(arrays));
    for (const [name, a] of Object.entries(arrays)) {
      const b = await r.read(name);
      expect(b.dtype, name).toBe(a.dtype);
      expect(b.shape, name).toEqual(a.shape);
      expect(values(b), name).toEqual(values(a));
    }
    await r.close();
  });

  it('reads what np.savez and np.savez_compressed write, exactly', async () => {
    requirePython();
    const stored = join(dir, 'np_stored.npz');
    const deflated = join(dir, 'np_deflated.npz');
    runPython(`${PY_ARRAYS}
import sys
np.savez(sys.argv[1], **arrays())
np.savez_compressed(sys.argv[2], **arrays())
`, [stored, deflated]);
    const expected = expectedArrays();
    for (const path of [stored, deflated]) {
      const r = await openNpz(path);
      expect(r.fields.every((f) => f.compressed === (path === deflated))).toBe(true);
      for (const [name, a] of Object.entries(expected)) {
        const b = await r.read(name);
        expect(b.dtype, `${path}:${name}`).toBe(a.dtype);
        expect(b.shape, `${path}:${name}`).toEqual(a.shape);
        expect(values(b), `${path}:${name}`).toEqual(values(a));
      }
      await r.close();
    }
  });

  it('writes files numpy loads with allow_pickle=False and finds equal', async () => {
    requirePython();
    const path = join(dir, 'ours.npz');
    await writeNpz(path, expectedArrays());
    const out = runPython(`${PY_ARRAYS}
import sys, zipfile
z = np.load(sys.argv[1], allow_pickle=False)
want = arrays()
assert sorted(z.files) == sorted(want), z.files
for k, v in want.items():
    got = z[k]
    assert got.dtype == v.dtype, (k, got.dtype, v.dtype)
    assert got.shape == v.shape, (k, got.shape, v.shape)
    assert np.array_equal(got.view(np.uint8) if got.dtype.kind == 'f' else got, v.view(np.uint8) if v.dtype.kind == 'f' else v), k
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
print('ok', z['task'].dtype.str, z['k_len'].dtype.str)
`, [path]);
    expect(out.trim()).toBe('ok <U15 <i8');
  });

  it('reads slices along axis 0 of stored and deflated members', async () => {
    requirePython();
    const stored = join(dir, 'axis_s.npz');
    const deflated = join(dir, 'axis_d.npz');
    runPython(`
import numpy as np, sys
q = (np.arange(5*3*4, dtype=np.float32) * 0.25).reshape(5, 3, 4)
np.savez(sys.argv[1], other=np.ones(7), queries=q)
np.savez_compressed(sys.argv[2], other=np.ones(7), queries=q)
`, [stored, deflated]);
    for (const path of [stored, deflated]) {
      const r = await openNpz(path);
      const part = await r.readAxis0('queries', 2, 2);
      expect(part.shape).toEqual([2, 3, 4]);
      expect(Array.from(part.data as Float32Array)).toEqual(Array.from({ length: 24 }, (_, i) => (24 + i) * 0.25));
      await expect(r.readAxis0('queries', 4, 2)).rejects.toThrow(/outside \[0, 5\)/);
      await r.close();
    }
  });

  it('streams a member in chunks and leaves no partial file behind on abort', async () => {
    const path = join(dir, 'stream.npz');
    const w = await createNpzWriter(path);
    const sink = await w.begin('queries', 'float32', [4, 3]);
    await sink.write(Float32Array.from([0, 1, 2, 3, 4, 5]));
    await sink.write(Float32Array.from([6, 7, 8, 9, 10, 11]));
    await sink.end();
    await w.add('positions', { dtype: 'int32', shape: [4], data: Int32Array.from([1, 2, 3, 4]) });
    await w.close();
    const r = await openNpz(path);
    expect(Array.from((await r.read('queries')).data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    await r.close();

    const aborted = join(dir, 'aborted.npz');
    const w2 = await createNpzWriter(aborted);
    const s2 = await w2.begin('x', 'float32', [10]);
    await s2.write(new Float32Array(5));
    await expect(s2.end()).rejects.toThrow(/got 20 of the 40 bytes/);
    await w2.abort();
    const left = (await readdir(dir)).filter((f) => f.includes('aborted'));
    expect(left).toEqual([]);
  });

  it('is byte-identical for identical inputs', async () => {
    const a = join(dir, 'det_a.npz');
    const b = join(dir, 'det_b.npz');
    await writeNpz(a, expectedArrays());
    await writeNpz(b, expectedArrays());
    expect(Buffer.compare(await readFile(a), await readFile(b))).toBe(0);
  });

  it('writes zip64 records past 4 GiB that numpy, zipfile and our reader all read (sparse file)', async () => {
    requirePython();
    const path = join(dir, 'zip64.npz');
    const bigBytes = 2 ** 32 + 4096; // a member whose size and whose successor's offset pass 4 GiB
    const w = await createNpzWriter(path);
    const sink = await w.begin('hidden', 'uint8', [bigBytes]);
    await sink.write(Uint8Array.from([1, 2, 3]));
    await sink.writeZeros(bigBytes - 6);
    await sink.write(Uint8Array.from([7, 8, 9]));
    await sink.end();
    await w.add('queries', { dtype: 'float32', shape: [3], data: Float32Array.from([1.5, 2.5, 3.5]) });
    await w.add('task', { dtype: 'unicode', shape: [], data: ['vt'] });
    await w.close();
    expect((await stat(path)).size).toBeGreaterThan(2 ** 32);
    expect((await stat(path)).blocks * 512).toBeLessThan(64 * 2 ** 20); // stayed sparse

    const r = await openNpz(path);
    expect(r.field('hidden')!.shape).toEqual([bigBytes]);
    expect(Array.from((await r.read('queries')).data as Float32Array)).toEqual([1.5, 2.5, 3.5]);
    const tail = await r.readAxis0('hidden', bigBytes - 4, 4);
    expect(Array.from(tail.data as Uint8Array)).toEqual([0, 7, 8, 9]);
    await r.close();

    const out = runPython(`
import sys, zipfile, zlib, numpy as np
zf = zipfile.ZipFile(sys.argv[1])
info = {i.filename: i for i in zf.infolist()}
assert info['queries.npy'].header_offset > 2**32, info['queries.npy'].header_offset
assert info['hidden.npy'].file_size > 2**32
z = np.load(sys.argv[1], allow_pickle=False)
assert z['queries'].tolist() == [1.5, 2.5, 3.5]
assert str(z['task']) == 'vt'
# stream the big member through zipfile: checks its CRC and size
with zf.open('hidden.npy') as f:
    while f.read(1 << 26): pass
print('ok')
`, [path], { timeoutMs: 300_000 });
    expect(out.trim()).toBe('ok');
    await rm(path);
  }, 300_000);
});

describe('npz errors', () => {
  it('says clearly what is wrong with a truncated, non-zip, missing or corrupt file', async () => {
    const good = join(dir, 'good.npz');
    await writeNpz(good, expectedArrays());
    const size = (await stat(good)).size;

    const cut = join(dir, 'cut.npz');
    await writeFile(cut, (await readFile(good)).subarray(0, Math.floor(size / 2)));
    await expect(openNpz(cut)).rejects.toThrow(/cut\.npz: .*(truncated|still being written)/);

    const notZip = join(dir, 'not.npz');
    await writeFile(notZip, 'hello, this is a text file and not an archive at all');
    await expect(openNpz(notZip)).rejects.toThrow(/not a zip archive/);

    await expect(openNpz(join(dir, 'missing.npz'))).rejects.toThrow(/no such file/);

    const tiny = join(dir, 'tiny.npz');
    await writeFile(tiny, 'PK');
    await expect(openNpz(tiny)).rejects.toThrow(NpzError);

    // flip one data byte: the directory is fine, the CRC catches it
    const flipped = join(dir, 'flipped.npz');
    const bytes = Buffer.from(await readFile(good));
    const r0 = await openNpz(good);
    await r0.close();
    // the last data byte of positions.npy sits just before the next member's local header
    const next = bytes.indexOf(Buffer.from('PK\x03\x04', 'latin1'), bytes.indexOf(Buffer.from('positions.npy')));
    bytes[next - 1] ^= 0xff;
    await writeFile(flipped, bytes);
    const r = await openNpz(flipped);
    await expect(r.read('positions')).rejects.toThrow(/CRC-32 mismatch/);
    await expect(r.read('nope')).rejects.toThrow(/no field "nope"/);
    await r.close();
  });

  it('rejects a member whose header shape disagrees with its size, and unknown dtypes', async () => {
    requirePython();
    const path = join(dir, 'mismatch.npz');
    runPython(`
import zipfile, sys, numpy as np, io
def npy(arr):
    b = io.BytesIO(); np.save(b, arr); return b.getvalue()
good = npy(np.arange(6, dtype=np.float32))
bad = good.replace(b"(6,)", b"(7,)")
cplx = npy(np.zeros(2, dtype=np.complex64))
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('shape.npy', bad)
with zipfile.ZipFile(sys.argv[2], 'w') as z:
    z.writestr('c.npy', cplx)
with zipfile.ZipFile(sys.argv[3], 'w') as z:
    z.writestr('m.npy', b'NOTNUMPY' + good[8:])
`, [path, join(dir, 'complex.npz'), join(dir, 'magic.npz')]);
    await expect(openNpz(path)).rejects.toThrow(/shape.npy: shape \[7\] of float32 needs 28 bytes but the member holds 24/);
    await expect(openNpz(join(dir, 'complex.npz'))).rejects.toThrow(/unsupported dtype <c8/);
    await expect(openNpz(join(dir, 'magic.npz'))).rejects.toThrow(/bad magic/);
  });

  it('detects truncation inside a deflated member', async () => {
    requirePython();
    const path = join(dir, 'def_cut.npz');
    runPython(`
import numpy as np, sys
np.savez_compressed(sys.argv[1], queries=np.random.default_rng(0).standard_normal(200000).astype(np.float32))
`, [path]);
    const full = await readFile(path);
    // damage the middle of the compressed stream but keep the directory intact
    const broken = Buffer.from(full);
    for (let i = 2000; i < 6000; i++) broken[i] = 0xa5;
    const bad = join(dir, 'def_bad.npz');
    await writeFile(bad, broken);
    const r = await openNpz(bad);
    await expect(r.read('queries')).rejects.toThrow(/corrupt deflate data|CRC-32 mismatch|ended early/);
    await r.close();
    await truncate(path, full.length - 10);
    await expect(openNpz(path)).rejects.toThrow(NpzError);
  });
});
