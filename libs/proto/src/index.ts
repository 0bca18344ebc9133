/**
 * Generated protobuf-es schemas for every Winnow API. Nothing under `gen/` is edited by hand:
 * run `npm run proto:gen` after changing `proto/`.
 */
import './text-encoding';

export * from './gen/winnow/edge/v1/edge_pb';
export * from './gen/winnow/verdict/v1/verdict_pb';
export * from './gen/winnow/classifier/v1/classifier_service_pb';
export * from './gen/winnow/stats/v1/stats_service_pb';
export * from './gen/winnow/config/v1/config_service_pb';
export * from './gen/winnow/token/v1/token_pb';
export * from './wire-writer';
export * from './wire-reader';
