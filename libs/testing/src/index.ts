export * from './http-client';
export * from './prometheus-text';
