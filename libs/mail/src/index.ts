export * from './prepare-email';
