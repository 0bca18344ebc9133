export * from '@winnow/http-util';
export * from './prometheus-text';
