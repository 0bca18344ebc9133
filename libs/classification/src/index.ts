export * from './verdict';
export * from './rules';
