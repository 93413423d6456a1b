import { UserError } from '../../errors.js';

/**
 * The largest haystack size n >= 1 whose prompt fits: tokens(n) <= budget, where tokens is
 * nondecreasing in n. Exact (unlike RULER's coarse steps), so the prompt ends within one
 * haystack unit of the budget. Each probe tokenizes a whole prompt, so the search starts
 * from a linear estimate and brackets it before bisecting (about 10 probes at 16K).
 */
export function largestFitting(tokens: (n: number) => number, budget: number, what: string): number {
  const first = tokens(1);
  if (first > budget) {
    throw new UserError(`a token budget of ${budget} is too small for ${what} (the smallest prompt takes ${first} tokens)`);
  }
  const probe = 16;
  const atProbe = tokens(probe);
  if (atProbe > budget) return bisect(tokens, budget, 1, probe);
  const perUnit = Math.max((atProbe - first) / (probe - 1), 1e-3);
  let lo = probe;
  let hi = Math.max(probe + 1, Math.floor(probe + (budget - atProbe) / perUnit));
  // bracket: grow or shrink the estimate by 3 % steps until lo fits and hi does not
  if (tokens(hi) <= budget) {
    lo = hi;
    for (;;) {
      hi = Math.ceil(lo * 1.03) + 1;
      if (hi > 1 << 24) throw new Error(`haystack search for ${what} did not terminate`);
      if (tokens(hi) > budget) break;
      lo = hi;
    }
  } else {
    for (let mid = Math.floor(hi / 1.03); mid > lo; mid = Math.floor(mid / 1.03)) {
      if (tokens(mid) <= budget) {
        lo = mid;
        break;
      }
      hi = mid;
    }
  }
  return bisect(tokens, budget, lo, hi);
}

// lo fits, hi does not
function bisect(tokens: (n: number) => number, budget: number, lo: number, hi: number): number {
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (tokens(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}
