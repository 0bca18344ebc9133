/** Nest injection tokens of the collector. */
export const COLLECTOR_CONFIG = Symbol('COLLECTOR_CONFIG');
export const CLASSIFIER_CLIENT = Symbol('CLASSIFIER_CLIENT');
export const CONFIG_CLIENT = Symbol('CONFIG_CLIENT');
export const METRICS = Symbol('METRICS');
