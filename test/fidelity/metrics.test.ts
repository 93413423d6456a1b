import { describe, expect, it } from 'vitest';
import { groupAttention, keptCount, keptMassAt, logMassRatio, recallAt, topIndices } from '../../src/fidelity/metrics.js';

// hand-made cases whose answers are worked out in the comments
describe('fidelity metrics on hand-made cases', () => {
  const truth = [0.4, 0.3, 0.2, 0.1];

  it('recall and kept mass of a reversed prediction are zero-ish', () => {
    const reversed = [0.1, 0.2, 0.3, 0.4];
    // keep 0.5 -> 2 keys: true top {0, 1}, predicted top {3, 2}: no overlap, mass 0.2 + 0.1
    expect(recallAt(truth, reversed, 0.5)).toBe(0);
    expect(keptMassAt(truth, reversed, 0.5)).toBeCloseTo(0.3, 12);
  });

  it('recall and kept mass of a partly right prediction', () => {
    const pred = [0.9, 0.0, 0.5, 0.1];
    // keep 0.5: predicted top {0, 2} vs true {0, 1}: 1 of 2; mass 0.4 + 0.2
    expect(recallAt(truth, pred, 0.5)).toBe(0.5);
    expect(keptMassAt(truth, pred, 0.5)).toBeCloseTo(0.6, 12);
    // keep 0.25: one key, both pick key 0
    expect(recallAt(truth, pred, 0.25)).toBe(1);
    expect(keptMassAt(truth, pred, 0.25)).toBeCloseTo(0.4, 12);
    // keep everything: all mass, full recall
    expect(keptMassAt(truth, pred, 1)).toBeCloseTo(1, 12);
    expect(recallAt(truth, pred, 1)).toBe(1);
  });

  it('kept mass is not normalised by the caller: unnormalised truth gives the same share', () => {
    expect(keptMassAt(truth.map((t) => t * 7), [0.9, 0.0, 0.5, 0.1], 0.5)).toBeCloseTo(0.6, 12);
  });

  it('keptCount rounds and keeps at least one key; topIndices breaks ties by index', () => {
    expect(keptCount(10, 0.25)).toBe(3);
    expect(keptCount(10, 0.01)).toBe(1);
    expect(Array.from(topIndices([1, 3, 3, 0], 2))).toEqual([1, 2]);
  });

  it('groupAttention is the mean over heads of per-head softmax, stable at huge log scores', () => {
    // head A: softmax(0, ln 3) = (0.25, 0.75); head B: (0.5, 0.5); mean (0.375, 0.625)
    const g = groupAttention([Float64Array.of(0, Math.log(3)), Float64Array.of(5, 5)]);
    expect(g[0]).toBeCloseTo(0.375, 12);
    expect(g[1]).toBeCloseTo(0.625, 12);
    // shifting a head's log scores by 1e4 changes nothing (exp would overflow without log-sum-exp)
    const shifted = groupAttention([Float64Array.of(1e4, 1e4 + Math.log(3)), Float64Array.of(-1e4, -1e4)]);
    expect(shifted[0]).toBeCloseTo(0.375, 12);
  });

  it('logMassRatio is ln(predicted total / true total) averaged over heads', () => {
    // head 1: totals 4 vs 2 -> ln 2; head 2: 1 vs 1 -> 0; mean ln2 / 2
    const pred = [Float64Array.of(Math.log(2), Math.log(2)), Float64Array.of(0, -Infinity)];
    const truthHeads = [Float64Array.of(0, 0), Float64Array.of(-Infinity, 0)];
    expect(logMassRatio(pred, truthHeads)).toBeCloseTo(Math.log(2) / 2, 12);
  });
});
