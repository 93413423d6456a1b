import { METHODS, type FidelityResult } from './unit.js';

/**
 * The per-unit fidelity CSV (`<out>.units.csv`): the contract columns
 * task,prompt_idx,layer,head,best_k,rho_* and recall_*@f first, then the extras.
 */

/** Header columns for the given keep fractions, contract columns first. */
export function fidelityColumns(keep: number[]): string[] {
  const perKeep = (prefix: string, methods: readonly string[]) => keep.flatMap((f) => methods.map((m) => `${prefix}_${m}@${f}`));
  return [
    'task', 'prompt_idx', 'layer', 'head', 'best_k', ...METHODS.map((m) => `rho_${m}`), ...perKeep('recall', METHODS),
    ...perKeep('mass', [...METHODS, 'oracle']), ...METHODS.map((m) => `logmass_${m}`),
    'n_seen', 'n_future', 'future_span', 'seconds', 'status',
  ];
}

/** The whole CSV text (header + one line per unit) for rows computed with keep fractions `keep`. */
export function formatFidelityCsv(rows: FidelityResult[], keep: number[]): string {
  const lines = [fidelityColumns(keep).join(',')];
  for (const r of rows) {
    const perKeep = (get: (m: string, i: number) => number, methods: readonly string[]) =>
      keep.flatMap((_, i) => methods.map((m) => num(get(m, i))));
    lines.push([
      r.task, r.promptIdx, r.layer, r.head, r.bestK, ...METHODS.map((m) => num(r.rho[m])),
      ...perKeep((m, i) => r.recall[m as (typeof METHODS)[number]][i]!, METHODS),
      ...perKeep((m, i) => (m === 'oracle' ? r.oracleMass[i]! : r.keptMass[m as (typeof METHODS)[number]][i]!), [...METHODS, 'oracle']),
      ...METHODS.map((m) => num(r.logMass[m])),
      r.nSeen, r.nFuture, num(r.futureSpan), r.seconds.toFixed(3), quote(r.status),
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}

function num(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(6))) : 'nan';
}

function quote(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""').replace(/\n/g, ' ')}"` : s;
}
