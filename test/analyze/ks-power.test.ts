import { describe, expect, it } from 'vitest';
import { ksPowerTable, powerChunks, powerRows, runPowerChunk, type PowerParams } from '../../src/analyze/ks-power.js';

// small enough for a test, large enough that the scenarios disagree (some draws pass, some fail)
const P: PowerParams = { nTrain: 300, nTest: 120, d: 8, alpha: 0.05, draws: 6, seed: 5 };

describe('KS power table chunks', () => {
  it('one-draw chunks awaited side by side in one thread give the same hits as the draws in turn', async () => {
    // the draws reuse per-thread buffers between chunks: chunks interleaved at their awaits must not share them
    const chunks = powerChunks(P.draws, 1);
    const inTurn: number[] = [];
    for (const c of chunks) inTurn.push(await runPowerChunk(P, c, 1));
    const sideBySide = await Promise.all(chunks.map((c) => runPowerChunk(P, c, 1)));
    expect(sideBySide).toEqual(inTurn);
    // and the table of the one-chunk-per-scenario path (ksPowerTable) is the same
    expect(powerRows(P, chunks, sideBySide)).toEqual(await ksPowerTable(P.nTrain, P.nTest, P.d, P.alpha, P.draws, P.seed, 1));
    // the draws differ across scenarios: a shared buffer would mix a pass scenario's data with a reject one's
    const rows = powerRows(P, chunks, inTurn);
    expect(new Set(rows.map((r) => r.pct)).size).toBeGreaterThan(1);
  });
});
