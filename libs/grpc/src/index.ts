export * from './errors';
export * from './service-definition';
export * from './server';
export * from './client';
export * from './metrics-hooks';
export * from './service-key';
export * from './tls';
