/** Nest injection tokens of the stats service. */
export const STATS_CONFIG = Symbol('STATS_CONFIG');
export const EVENT_STORE = Symbol('EVENT_STORE');
export const METRICS = Symbol('METRICS');
