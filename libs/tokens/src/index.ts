export * from './token-codec';
export * from './tracking-domain';
export * from './tracking-urls';
export * from './api-key';
