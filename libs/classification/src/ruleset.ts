/**
 * Version of the rules and their data, stamped on every verdict. Bump it whenever a rule, a
 * weight or the network data changes, so stored verdicts say which rules made them.
 */
export const RULESET_VERSION = '2026.12.4';
