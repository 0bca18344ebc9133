export * from './verdict';
export * from './rules';
export * from './classify';
