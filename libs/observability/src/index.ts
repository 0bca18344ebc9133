export * from './metrics';
export * from './ops-endpoints';
export * from './logger';
