export * from './labelled-traces';
export * from './scenarios';
export * from './score';
export * from './field-corpus';
export * from './evaluate';
export * from './report';
