export * from './token-codec';
