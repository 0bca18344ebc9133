export * from './http-client';
export * from './free-port';
