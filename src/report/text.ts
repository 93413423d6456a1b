/**
 * Number formats of report.md, shared by the tables and the verdict so that every number the
 * verdict quotes is printed the same way in the tables below it.
 */

/** 43.2 -> "43.2 %"; NaN -> "n/a". */
export function percentText(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} %` : 'n/a';
}

/** x with `digits` decimals; NaN -> "n/a". */
export function fixedText(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** "38 of 88 (43.2 %)"; "0 of 0" when there is nothing to count. */
export function countText(count: number, of: number): string {
  return of > 0 ? `${count} of ${of} (${percentText((100 * count) / of)})` : `${count} of ${of}`;
}

/** The value as the report prints it with `digits` decimals, so comparisons agree with the text. */
export function asPrinted(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
