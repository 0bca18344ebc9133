import { describe, expect, it } from 'vitest';
import { ConfigError, loadCollectorConfig, loadStatsConfig } from './index';

const KEY = { WINNOW_SERVICE_KEY: 'k'.repeat(32) };

describe('configuration', () => {
  it('has working defaults', () => {
    expect(loadCollectorConfig(KEY)).toMatchObject({ httpPort: 8080, classifierAddress: '127.0.0.1:50061', trustProxy: false });
    expect(loadStatsConfig(KEY)).toMatchObject({ store: 'embedded', demoTenant: true });
  });

  it('needs a service key', () => {
    expect(() => loadCollectorConfig({})).toThrow(/WINNOW_SERVICE_KEY: is required/);
    expect(() => loadStatsConfig({ WINNOW_SERVICE_KEY: 'short' })).toThrow(/WINNOW_SERVICE_KEY: must be at least 32 characters/);
  });

  it('names the variable that is wrong', () => {
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_COLLECTOR_PORT: 'eighty' })).toThrow(/WINNOW_COLLECTOR_PORT: must be a whole number/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_COLLECTOR_PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_TRUST_PROXY: 'maybe' })).toThrow(/WINNOW_TRUST_PROXY/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_CLASSIFIER_ADDR: 'http://x' })).toThrow(/host:port/);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_STORE: 'postgres' })).toThrow(/WINNOW_STORE: must be one of embedded, mongodb/);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_STORE: 'mongodb' })).toThrow(/MONGODB_URL: is required/);
  });
});
