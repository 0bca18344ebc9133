import { PolicyMode, type SuppressionPolicy, type SourceSelection } from '@winnow/proto';
import { ALL_MASK, AUTOMATED_MASK, maskOf } from './sources';

/** Which sources count, as masks over the source bits, for opens and for clicks. */
export interface CountingMask {
  opens: number;
  clicks: number;
}

function suppressedMask(sel: SourceSelection | undefined): number {
  // An absent selection means the default: leave every automated source out.
  if (!sel || sel.allAutomated) return AUTOMATED_MASK;
  return maskOf(sel.sources) & AUTOMATED_MASK; // people are never suppressed
}

/**
 * The sources that count under a tenant's policy (undefined = the default policy) and a query's
 * override. Human events always count.
 */
export function countingMask(policy: SuppressionPolicy | undefined, mode: PolicyMode = PolicyMode.UNSPECIFIED): CountingMask {
  switch (mode) {
    case PolicyMode.INCLUDE_AUTOMATED:
      return { opens: ALL_MASK, clicks: ALL_MASK };
    case PolicyMode.EXCLUDE_AUTOMATED:
      return { opens: ALL_MASK & ~AUTOMATED_MASK, clicks: ALL_MASK & ~AUTOMATED_MASK };
    default:
      return {
        opens: ALL_MASK & ~suppressedMask(policy?.opens),
        clicks: ALL_MASK & ~suppressedMask(policy?.clicks),
      };
  }
}
