import { describe, expect, it } from 'vitest';
import { samplePositions } from '../../src/capture/positions.js';
import { chunkWithinScores, planChunks, streamChunk } from '../../src/capture/prefill/chunk-plan.js';
import { allocateCaptureBuffers, placeChunkRows } from '../../src/capture/prefill/assemble.js';

describe('samplePositions', () => {
  it('draws t_sub distinct ascending positions in [n_sink, k_len), reproducibly per (seed, task, prompt)', () => {
    for (const [kLen, tSub] of [[16384, 1024], [1100, 1024], [1040, 1024], [50, 1]]) {
      const p = samplePositions(kLen!, 16, tSub!, 0, 'vt', 3);
      expect(p.length).toBe(tSub);
      for (let i = 0; i < p.length; i++) {
        expect(p[i]).toBeGreaterThanOrEqual(16);
        expect(p[i]).toBeLessThan(kLen!);
        if (i > 0) expect(p[i]).toBeGreaterThan(p[i - 1]!);
      }
      expect(Array.from(samplePositions(kLen!, 16, tSub!, 0, 'vt', 3))).toEqual(Array.from(p));
    }
    const a = samplePositions(16384, 16, 1024, 0, 'vt', 3);
    expect(Array.from(samplePositions(16384, 16, 1024, 0, 'vt', 4))).not.toEqual(Array.from(a));
    expect(Array.from(samplePositions(16384, 16, 1024, 1, 'vt', 3))).not.toEqual(Array.from(a));
    expect(Array.from(samplePositions(16384, 16, 1024, 0, 'cwe', 3))).not.toEqual(Array.from(a));
  });

  it('takes every position when t_sub equals the range, and refuses too short a prompt', () => {
    expect(Array.from(samplePositions(26, 16, 10, 0, 't', 0))).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(() => samplePositions(1000, 16, 1024, 0, 't', 0)).toThrow(/984 after the 16-token sink, fewer than t_sub = 1024/);
  });

  it('is uniform over the range (chi-square over 8 bins, 2000 prompts)', () => {
    const bins = new Array(8).fill(0);
    for (let j = 0; j < 2000; j++) for (const p of samplePositions(816, 16, 20, 0, 'u', j)) bins[Math.floor((p - 16) / 100)]++;
    const expected = (2000 * 20) / 8;
    const chi2 = bins.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(24.3); // chi-square 7 d.o.f., p = 0.001
  });
});

describe('planChunks', () => {
  it('assigns each position to the chunk holding it, relative to its start', () => {
    const pos = Int32Array.from([0, 3, 4, 7, 8, 9]);
    const plans = planChunks(10, pos, 4);
    expect(plans.map((p) => [p.start, p.length, Array.from(p.capture), p.firstRow])).toEqual([
      [0, 4, [0, 3], 0],
      [4, 4, [0, 3], 2],
      [8, 2, [0, 1], 4],
    ]);
    expect(planChunks(10, pos, 0)).toHaveLength(1);
    expect(planChunks(10, Int32Array.from([5]), 3).map((p) => p.capture.length)).toEqual([0, 1, 0, 0]);
    expect(() => planChunks(5, Int32Array.from([5]), 2)).toThrow(/beyond/);
  });
});

describe('placeChunkRows', () => {
  it('lays query rows out as [layer, head, position, dim] and hidden as [layer, position, hidden]', () => {
    const g = { nLayers: 2, nHeads: 3, nKvHeads: 1, headDim: 2, hiddenSize: 4 };
    const tSub = 5;
    const buf = allocateCaptureBuffers(g, tSub, true);
    // value encodes (layer, position, column) so misplacement shows
    const code = (l: number, t: number, c: number) => l * 1000 + t * 10 + c;
    const chunks = [[0, 2], [2, 0], [2, 3]] as const; // (firstRow, count), including an empty chunk
    for (const [first, count] of chunks) {
      const hid = new Uint16Array(g.nLayers * count * g.hiddenSize);
      const q = new Uint16Array(g.nLayers * count * g.nHeads * g.headDim);
      const k = new Uint16Array(g.nLayers * g.nKvHeads * count * g.headDim);
      for (let l = 0; l < 2; l++) for (let p = 0; p < count; p++) {
        for (let c = 0; c < 4; c++) hid[(l * count + p) * 4 + c] = code(l, first + p, c);
        for (let c = 0; c < 6; c++) q[(l * count + p) * 6 + c] = code(l, first + p, c);
        for (let d = 0; d < 2; d++) k[(l * count + p) * 2 + d] = code(l, first + p, d);
      }
      placeChunkRows(buf, g, tSub, first, count, hid, q, k);
    }
    for (let l = 0; l < 2; l++) for (let t = 0; t < tSub; t++) {
      for (let c = 0; c < 4; c++) expect(buf.hidden[(l * tSub + t) * 4 + c]).toBe(code(l, t, c));
      for (let h = 0; h < 3; h++) for (let d = 0; d < 2; d++) expect(buf.queries[((l * 3 + h) * tSub + t) * 2 + d]).toBe(code(l, t, h * 2 + d));
      for (let d = 0; d < 2; d++) expect(buf.keys![(l * tSub + t) * 2 + d]).toBe(code(l, t, d));
    }
  });
});

describe('chunkWithinScores', () => {
  it('keeps a chunk whose float32 scores fit the budget, else the largest multiple of 64 that fits', () => {
    // Llama-3.1-8B (32 heads) at 16,384 tokens: 1024 x 16384 x 32 x 4 B = 2 GiB > 512 MiB; 256 tokens take exactly 512 MiB
    expect(chunkWithinScores(1024, 16384, 32, 512 * 2 ** 20)).toBe(256);
    expect(chunkWithinScores(1024, 4096, 32, 512 * 2 ** 20)).toBe(1024);
    expect(chunkWithinScores(1024, 4096, 16)).toBe(1024);
    // 0 means the whole prompt, kept when it fits
    expect(chunkWithinScores(0, 1000, 4)).toBe(0);
    expect(chunkWithinScores(0, 16384, 32)).toBe(256);
    // never below 64 tokens
    expect(chunkWithinScores(1024, 131072, 64, 2 ** 20)).toBe(64);
    // 5000 tokens x 32 heads x 4 B = 640,000 B of scores per chunk token: 838 tokens fit 512 MiB, 832 = 13 x 64
    expect(chunkWithinScores(2048, 5000, 32)).toBe(832);
  });
});

describe('streamChunk', () => {
  it('keeps an asked --chunk within the 512 MiB budget', () => {
    expect(streamChunk(1024, 4096, 16)).toBe(1024);
    expect(streamChunk(2048, 16384, 32)).toBe(256);
  });
  it('without --chunk, shortens to 64 MiB of float32 scores per chunk, but not below 256 tokens nor above the budget', () => {
    // the bench model: 4096 tokens x 16 heads x 4 B = 256 KiB per chunk token: 256 tokens = 64 MiB
    expect(streamChunk(undefined, 4096, 16)).toBe(256);
    // 2048 tokens x 8 heads x 4 B = 64 KiB per chunk token: 1024 tokens fit 64 MiB, so the default stays
    expect(streamChunk(undefined, 2048, 8)).toBe(1024);
    // short prompts stay one chunk: 600 x 32 x 4 B = 76.8 kB per chunk token, 832 tokens fit 64 MiB
    expect(streamChunk(undefined, 600, 32)).toBe(832);
    // Llama-3.1-8B at 16K: 64 MiB would be 32 tokens; the floor gives 256, which is also what 512 MiB allows
    expect(streamChunk(undefined, 16384, 32)).toBe(256);
    // 8B at 4K: 128 tokens fit 64 MiB; the floor 256 (128 MiB) is within the budget
    expect(streamChunk(undefined, 4096, 32)).toBe(256);
    // a prompt so long that even 256 tokens pass 512 MiB: the budget wins (64 heads x 65536 tokens = 16 MiB
    // per chunk token: 32 fit, and chunkWithinScores' own floor is 64)
    expect(streamChunk(undefined, 65536, 64)).toBe(64);
    // 32 heads x 32768 tokens = 4 MiB per chunk token: 128 fit 512 MiB
    expect(streamChunk(undefined, 32768, 32)).toBe(128);
  });
});
