import { describe, expect, it } from 'vitest';
import { ConfigError, loadCollectorConfig, loadStatsConfig } from './index';

describe('configuration', () => {
  it('has working defaults', () => {
    expect(loadCollectorConfig({})).toMatchObject({ httpPort: 8080, classifierAddress: '127.0.0.1:50061', trustProxy: false });
    expect(loadStatsConfig({})).toMatchObject({ store: 'embedded', demoTenant: true });
  });

  it('names the variable that is wrong', () => {
    expect(() => loadCollectorConfig({ WINNOW_COLLECTOR_PORT: 'eighty' })).toThrow(/WINNOW_COLLECTOR_PORT: must be a whole number/);
    expect(() => loadCollectorConfig({ WINNOW_COLLECTOR_PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadCollectorConfig({ WINNOW_TRUST_PROXY: 'maybe' })).toThrow(/WINNOW_TRUST_PROXY/);
    expect(() => loadCollectorConfig({ WINNOW_CLASSIFIER_ADDR: 'http://x' })).toThrow(/host:port/);
    expect(() => loadStatsConfig({ WINNOW_STORE: 'postgres' })).toThrow(/WINNOW_STORE: must be one of embedded, mongodb/);
    expect(() => loadStatsConfig({ WINNOW_STORE: 'mongodb' })).toThrow(/MONGODB_URL: is required/);
  });
});
