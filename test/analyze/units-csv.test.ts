import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { formatUnitRow, openUnitsCsv, parseUnitsCsv, readUnitsCsv, UNIT_COLUMNS } from '../../src/analyze/units-csv.js';
import { badFileRow } from '../../src/analyze/run.js';
import type { UnitResult } from '../../src/analyze/unit.js';

const ROW: UnitResult = {
  task: 'niah_single_1', promptIdx: 3, layer: 7, head: 2, nTrain: 3277, nTest: 819, dim: 128, bestK: 5,
  deltaBicK1: 123456.75, ksStat: 0.031, ksP: 0.42, ksPass: true, llTestK1: -150.5, llTestGmm: -140.25,
  llTestKde: -170.125, llTestT: NaN, bicK1: 1e6, bicBest: 9e5, bicT: Infinity, tDof: 4.5, nModes: 3,
  bicByK: [1e6, 9.5e5, 9e5], pitHist: [1, 2, 3], seconds: 1.5, status: 'ok',
};

describe('units csv', () => {
  it('round-trips a row, including NaN, Infinity and a status with commas and quotes', () => {
    const odd = { ...badFileRow({ path: 'x', task: 't', promptIdx: 1, reason: 'bad "zip", truncated' }) };
    const text = `${UNIT_COLUMNS.join(',')}\n${formatUnitRow(ROW)}${formatUnitRow(odd)}`;
    const [a, b] = parseUnitsCsv(text);
    expect(a).toEqual(ROW);
    expect(b!.status).toBe('bad file: bad "zip", truncated');
    expect(b!.layer).toBe(-1);
  });

  it('reads contract columns in any order', () => {
    const cols = [...UNIT_COLUMNS].reverse();
    const cells = formatUnitRow(ROW).trim().split(',').reverse();
    const [a] = parseUnitsCsv(`${cols.join(',')}\n${cells.join(',')}\n`);
    expect(a!.bestK).toBe(5);
    expect(a!.deltaBicK1).toBe(123456.75);
  });

  it('cuts a partial last line before appending and keeps the first row of a duplicated unit', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'poc-csv-'));
    try {
      const path = join(dir, 'u.csv');
      openUnitsCsv(path).append(ROW);
      writeFileSync(path, `${readFileSync(path, 'utf8')}niah_single_1,3,8,0,32`, { flag: 'w' });
      const csv = openUnitsCsv(path);
      expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
      csv.append({ ...ROW, layer: 8 });
      csv.append({ ...ROW, bestK: 9 }); // same unit as the first row
      const rows = readUnitsCsv(path);
      expect(rows.map((r) => [r.layer, r.bestK])).toEqual([[7, 5], [8, 5]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a csv without the contract columns', () => {
    expect(() => parseUnitsCsv('a,b\n1,2\n')).toThrow(/missing columns/);
  });
});
