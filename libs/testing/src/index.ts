export * from '@winnow/http-util';
export * from './prometheus-text';
export * from './trace-edge';
