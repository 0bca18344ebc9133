export * from './sources';
export * from './policy';
export * from './counters';
export * from './campaign-stats';
export * from './open-estimate';
