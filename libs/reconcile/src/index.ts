export * from './conditions';
export * from './tracking-domain.decision';
export * from './suppression-setting.decision';
