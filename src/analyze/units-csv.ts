import { appendFileSync, existsSync, openSync, closeSync, readFileSync, ftruncateSync, statSync } from 'node:fs';
import type { UnitResult } from './unit.js';

/**
 * The per-unit CSV (contract: ../shared/DESIGN.md): the required columns first, in the
 * contract's order, then extras. Rows are appended one whole line per write as units finish,
 * so a killed run leaves at most one partial last line, which the next run cuts off.
 */

/** The columns DESIGN.md requires, in its order. */
export const CONTRACT_COLUMNS = [
  'task', 'prompt_idx', 'layer', 'head', 'n_train', 'n_test', 'best_k', 'delta_bic_k1', 'ks_stat', 'ks_p', 'ks_pass',
  'll_test_k1', 'll_test_gmm', 'll_test_kde', 'll_test_t',
] as const;
/** Our extra columns (lists are ';'-joined; status 'ok' or why the unit has no statistics). */
export const EXTRA_COLUMNS = ['dim', 'bic_k1', 'bic_best', 'bic_t', 't_dof', 'n_modes', 'bic_by_k', 'pit_hist', 'seconds', 'status'] as const;
/** The header we write. */
export const UNIT_COLUMNS = [...CONTRACT_COLUMNS, ...EXTRA_COLUMNS];

/** The identity of a unit in a CSV: task, prompt, layer, head. */
export function unitId(r: { task: string; promptIdx: number; layer: number; head: number }): string {
  return `${r.task}\u0000${r.promptIdx}\u0000${r.layer}\u0000${r.head}`;
}

/** One CSV line (with trailing newline) for a result. */
export function formatUnitRow(r: UnitResult): string {
  const num = (x: number) => (Number.isFinite(x) ? String(x) : x === Infinity ? 'inf' : x === -Infinity ? '-inf' : 'nan');
  const cells: Record<string, string> = {
    task: r.task, prompt_idx: String(r.promptIdx), layer: String(r.layer), head: String(r.head),
    n_train: String(r.nTrain), n_test: String(r.nTest), best_k: String(r.bestK), delta_bic_k1: num(r.deltaBicK1),
    ks_stat: num(r.ksStat), ks_p: num(r.ksP), ks_pass: r.ksPass ? '1' : '0',
    ll_test_k1: num(r.llTestK1), ll_test_gmm: num(r.llTestGmm), ll_test_kde: num(r.llTestKde), ll_test_t: num(r.llTestT),
    dim: String(r.dim), bic_k1: num(r.bicK1), bic_best: num(r.bicBest), bic_t: num(r.bicT), t_dof: num(r.tDof),
    n_modes: String(r.nModes), bic_by_k: r.bicByK.map(num).join(';'), pit_hist: r.pitHist.join(';'),
    seconds: r.seconds.toFixed(3), status: r.status,
  };
  return `${UNIT_COLUMNS.map((c) => quote(cells[c]!)).join(',')}\n`;
}

/** Parses a per-unit CSV (any column order, extra columns ignored); throws on a missing contract column. */
export function parseUnitsCsv(text: string, source = 'units csv'): UnitResult[] {
  const lines = splitCompleteLines(text);
  if (lines.length === 0) return [];
  const header = parseLine(lines[0]!);
  const missing = CONTRACT_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) throw new Error(`${source}: missing columns ${missing.join(', ')}`);
  const col = (name: string) => header.indexOf(name);
  const out: UnitResult[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const cells = parseLine(line);
    const get = (name: string) => (col(name) >= 0 ? cells[col(name)] ?? '' : '');
    const num = (name: string) => parseNum(get(name));
    const list = (name: string) => (get(name) === '' ? [] : get(name).split(';').map(parseNum));
    out.push({
      task: get('task'), promptIdx: num('prompt_idx'), layer: num('layer'), head: num('head'),
      nTrain: num('n_train'), nTest: num('n_test'), dim: col('dim') >= 0 ? num('dim') : NaN, bestK: num('best_k'),
      deltaBicK1: num('delta_bic_k1'), ksStat: num('ks_stat'), ksP: num('ks_p'),
      ksPass: get('ks_pass') === '1' || get('ks_pass').toLowerCase() === 'true',
      llTestK1: num('ll_test_k1'), llTestGmm: num('ll_test_gmm'), llTestKde: num('ll_test_kde'), llTestT: num('ll_test_t'),
      bicK1: num('bic_k1'), bicBest: num('bic_best'), bicT: num('bic_t'), tDof: num('t_dof'), nModes: num('n_modes'),
      bicByK: list('bic_by_k'), pitHist: list('pit_hist'), seconds: num('seconds'),
      status: col('status') >= 0 ? get('status') : 'ok',
    });
  }
  return out;
}

/** Reads a CSV file's rows (none when the file does not exist), first row of each unit wins. */
export function readUnitsCsv(path: string): UnitResult[] {
  if (!existsSync(path)) return [];
  return dedupe(parseUnitsCsv(readFileSync(path, 'utf8'), path));
}

/** Keeps the first row of each unit. */
export function dedupe(rows: UnitResult[]): UnitResult[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(unitId(r)) ? false : (seen.add(unitId(r)), true)));
}

/**
 * Prepares `path` for appending: writes the header to a new or empty file, and cuts a
 * partial last line left by a killed run. Returns an appender that writes one row per call.
 */
export function openUnitsCsv(path: string): { append(r: UnitResult): void } {
  if (!existsSync(path) || statSync(path).size === 0) {
    appendFileSync(path, `${UNIT_COLUMNS.join(',')}\n`);
  } else {
    const text = readFileSync(path, 'utf8');
    if (!text.endsWith('\n')) {
      const keep = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8');
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, keep);
      closeSync(fd);
    }
    parseUnitsCsv(readFileSync(path, 'utf8'), path); // refuses a file that is not a units csv
  }
  return { append: (r) => appendFileSync(path, formatUnitRow(r)) };
}

function splitCompleteLines(text: string): string[] {
  const lines = text.split('\n');
  lines.pop(); // the text after the last newline is empty or a partial line from a killed run
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function quote(cell: string): string {
  return /[",\n]/.test(cell) ? `"${cell.replace(/"/g, '""').replace(/\n/g, ' ')}"` : cell;
}

function parseLine(line: string): string[] {
  const out: string[] = [];
  let cur = '', inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (inQuotes) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') inQuotes = false;
      else cur += ch;
    } else if (ch === '"') inQuotes = true;
    else if (ch === ',') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function parseNum(s: string): number {
  if (s === '' || s.toLowerCase() === 'nan') return NaN;
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  return Number(s);
}
