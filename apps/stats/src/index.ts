export { startStats } from './bootstrap';
export { DEMO_HOSTNAME, DEMO_TENANT } from './demo-tenant';
export { Ingestor } from './ingest';
export { ALL_SCOPES, CALL_NEEDS, LEGACY_SCOPES } from './auth';
