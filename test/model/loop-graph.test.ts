import { describe, expect, it } from 'vitest';
import { makeNode } from '../../src/model/graph/onnx-graph.js';
import { topologicalOrder } from '../../src/model/graph/loop-graph.js';

describe('topologicalOrder (Loop bodies must be sorted)', () => {
  it('puts producers before consumers, keeps an already sorted list as is, and leaves outer-scope names alone', () => {
    const a = makeNode('Neg', ['outer_x'], ['a'], 'A');
    const b = makeNode('Add', ['a', 'outer_w'], ['b'], 'B');
    const c = makeNode('Mul', ['b', 'a'], ['c'], 'C');
    const d = makeNode('Constant', [], ['d'], 'D');
    expect(topologicalOrder([a, b, c, d]).map((n) => n.name)).toEqual(['A', 'B', 'C', 'D']);
    const sorted = topologicalOrder([c, d, b, a]).map((n) => n.name);
    expect(sorted).toHaveLength(4);
    expect(sorted.indexOf('A')).toBeLessThan(sorted.indexOf('B'));
    expect(sorted.indexOf('B')).toBeLessThan(sorted.indexOf('C'));
  });

  it('names a cycle instead of looping forever', () => {
    const x = makeNode('Neg', ['y'], ['x'], 'X');
    const y = makeNode('Neg', ['x'], ['y'], 'Y');
    expect(() => topologicalOrder([x, y])).toThrow(/cycle/);
  });
});
