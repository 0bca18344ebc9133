/** Nest injection tokens of the classifier service. */
export const CLASSIFIER_CONFIG = Symbol('CLASSIFIER_CONFIG');
export const STATS_CLIENT = Symbol('STATS_CLIENT');
export const METRICS = Symbol('METRICS');
