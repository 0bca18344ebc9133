import { PolicyMode, type ExplicitPolicy, type SuppressionPolicy, type SourceSelection } from '@winnow/proto';
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
export function countingMask(policy: SuppressionPolicy | undefined, mode: PolicyMode = PolicyMode.UNSPECIFIED, explicit?: ExplicitPolicy): CountingMask {
  switch (mode) {
    case PolicyMode.EXPLICIT:
      // Sources to leave out, as asked; people are never left out (the API refuses asking it).
      return {
        opens: ALL_MASK & ~(maskOf(explicit?.leaveOutOpens ?? []) & AUTOMATED_MASK),
        clicks: ALL_MASK & ~(maskOf(explicit?.leaveOutClicks ?? []) & AUTOMATED_MASK),
      };
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
