export * from './metrics';
export * from './ops-endpoints';
export * from './logger';
export * from './grpc-metrics';
export * from './running-service';
export * from './run-service';
export * from './grpc-service-host';
export * from './hot-metrics';
