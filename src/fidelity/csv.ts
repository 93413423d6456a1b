import { SCORERS, type Scorer } from './press-scorers.js';
import { METHODS, type FidelityResult, type Method } from './unit.js';

/**
 * The per-unit fidelity CSV (`<out>.units.csv`): the contract columns
 * task,prompt_idx,layer,head,best_k,rho_* and recall_*@f first, then the press columns
 * err_<scorer>@<ratio> and mass_<scorer>@<ratio> (with values), then the extras (the
 * ranking's kept share of true attention is rankmass_*@f). Rows are appended as units
 * finish, so an interrupted run resumes from it.
 */

/** Header columns for the given keep fractions and compression ratios (none: ranking only), contract columns first. */
export function fidelityColumns(keep: number[], ratios: number[] = []): string[] {
  const perKeep = (prefix: string, methods: readonly string[]) => keep.flatMap((f) => methods.map((m) => `${prefix}_${m}@${f}`));
  const perRatio = (prefix: string) => ratios.flatMap((r) => SCORERS.map((s) => `${prefix}_${s}@${r}`));
  return [
    'task', 'prompt_idx', 'layer', 'head', 'best_k', ...METHODS.map((m) => `rho_${m}`), ...perKeep('recall', METHODS),
    ...perRatio('err'), ...perRatio('mass'),
    ...perKeep('rankmass', [...METHODS, 'oracle']), ...METHODS.map((m) => `logmass_${m}`),
    'n_seen', 'n_future', 'future_span', 'seconds', 'status',
  ];
}

/** One CSV line (no newline) of a unit scored with keep fractions `keep` and compression ratios `ratios`. */
export function formatFidelityRow(r: FidelityResult, keep: number[], ratios: number[] = []): string {
  const perKeep = (get: (m: string, i: number) => number, methods: readonly string[]) =>
    keep.flatMap((_, i) => methods.map((m) => num(get(m, i))));
  const perRatio = (table: Record<Scorer, number[]> | undefined) => ratios.flatMap((_, i) => SCORERS.map((s) => num(table?.[s][i] ?? NaN)));
  return [
    r.task, r.promptIdx, r.layer, r.head, r.bestK, ...METHODS.map((m) => num(r.rho[m])),
    ...perKeep((m, i) => r.recall[m as Method][i]!, METHODS),
    ...perRatio(r.press?.err), ...perRatio(r.press?.mass),
    ...perKeep((m, i) => (m === 'oracle' ? r.oracleMass[i]! : r.keptMass[m as Method][i]!), [...METHODS, 'oracle']),
    ...METHODS.map((m) => num(r.logMass[m])),
    r.nSeen, r.nFuture, num(r.futureSpan), r.seconds.toFixed(3), quote(r.status),
  ].join(',');
}

/**
 * Rows of a CSV written by formatFidelityRow under the header of `keep`; a last line
 * without its newline (a run killed mid-write) is dropped. Throws when the header differs.
 */
export function parseFidelityCsv(text: string, keep: number[], ratios: number[] = []): FidelityResult[] {
  const lines = text.split('\n');
  const complete = lines.slice(0, -1); // the piece after the last newline is partial (or empty)
  const columns = fidelityColumns(keep, ratios);
  if (complete.length === 0 || complete[0] !== columns.join(',')) throw new Error('the units csv has another header (other keep fractions or ratios, or an older tool)');
  const rows: FidelityResult[] = [];
  for (const line of complete.slice(1)) {
    if (line === '') continue;
    // status is the last column and the only one that may be quoted (it can hold commas)
    const fields = line.split(',');
    const head = fields.slice(0, columns.length - 1);
    const status = unquote(fields.slice(columns.length - 1).join(','));
    const at = (name: string) => head[columns.indexOf(name)]!;
    const n = (name: string) => (at(name) === 'nan' ? NaN : Number(at(name)));
    const perMethod = <T>(make: (m: Method) => T) => Object.fromEntries(METHODS.map((m) => [m, make(m)])) as Record<Method, T>;
    const perScorer = (prefix: string) => Object.fromEntries(SCORERS.map((s) => [s, ratios.map((r) => n(`${prefix}_${s}@${r}`))])) as Record<Scorer, number[]>;
    rows.push({
      task: at('task'), promptIdx: n('prompt_idx'), layer: n('layer'), head: n('head'), bestK: n('best_k'),
      nSeen: n('n_seen'), nFuture: n('n_future'), futureSpan: n('future_span'),
      rho: perMethod((m) => n(`rho_${m}`)),
      recall: perMethod((m) => keep.map((f) => n(`recall_${m}@${f}`))),
      keptMass: perMethod((m) => keep.map((f) => n(`rankmass_${m}@${f}`))),
      oracleMass: keep.map((f) => n(`rankmass_oracle@${f}`)),
      logMass: perMethod((m) => n(`logmass_${m}`)),
      press: ratios.length > 0 ? { err: perScorer('err'), mass: perScorer('mass') } : undefined,
      seconds: n('seconds'), status,
    });
  }
  return rows;
}

// 10 significant digits: a resumed run's report matches a single run's to ~1e-10
function num(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(10))) : 'nan';
}

function quote(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""').replace(/\n/g, ' ')}"` : s;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}
