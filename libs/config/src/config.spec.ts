import { describe, expect, it } from 'vitest';
import { ConfigError, loadCollectorConfig, loadStatsConfig } from './index';

const KEY = { WINNOW_SERVICE_KEY: 'k'.repeat(32) };

describe('configuration', () => {
  it('has working defaults', () => {
    expect(loadCollectorConfig(KEY)).toMatchObject({ httpPort: 8080, classifierAddress: '127.0.0.1:50061', trustedProxies: [] });
    expect(loadStatsConfig(KEY)).toMatchObject({ store: 'embedded', demoTenant: true, historyMaxMessages: 200_000 });
  });

  it('bounds the history it is told to, within limits', () => {
    expect(loadStatsConfig({ ...KEY, WINNOW_HISTORY_MAX_MESSAGES: '100000' }).historyMaxMessages).toBe(100_000);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_HISTORY_MAX_MESSAGES: '10' })).toThrow(/WINNOW_HISTORY_MAX_MESSAGES/);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_HISTORY_MAX_MESSAGES: 'lots' })).toThrow(/WINNOW_HISTORY_MAX_MESSAGES: must be a whole number/);
  });

  it('needs a service key', () => {
    expect(() => loadCollectorConfig({})).toThrow(/WINNOW_SERVICE_KEY: is required/);
    expect(() => loadStatsConfig({ WINNOW_SERVICE_KEY: 'short' })).toThrow(/WINNOW_SERVICE_KEY: must be at least 32 characters/);
  });

  it('trusts the proxies it is told of, by CIDR, name or hop count', () => {
    expect(loadCollectorConfig({ ...KEY, WINNOW_TRUSTED_PROXIES: '10.0.0.0/8, loopback,2001:db8::/32' }).trustedProxies).toEqual(['10.0.0.0/8', 'loopback', '2001:db8::/32']);
    expect(loadCollectorConfig({ ...KEY, WINNOW_TRUSTED_PROXIES: '2' }).trustedProxies).toBe(2);
  });

  it('names the variable that is wrong', () => {
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_COLLECTOR_PORT: 'eighty' })).toThrow(/WINNOW_COLLECTOR_PORT: must be a whole number/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_COLLECTOR_PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_TRUST_PROXY: 'true' })).toThrow(/WINNOW_TRUST_PROXY: is gone: name the proxies/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/WINNOW_TRUSTED_PROXIES: "10.0.0.0\/33" is not an address/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_TRUSTED_PROXIES: 'everyone' })).toThrow(/WINNOW_TRUSTED_PROXIES/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_TRUSTED_PROXIES: '0' })).toThrow(/hop count must be between 1 and 10/);
    expect(() => loadCollectorConfig({ ...KEY, WINNOW_CLASSIFIER_ADDR: 'http://x' })).toThrow(/host:port/);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_STORE: 'postgres' })).toThrow(/WINNOW_STORE: must be one of embedded, mongodb/);
    expect(() => loadStatsConfig({ ...KEY, WINNOW_STORE: 'mongodb' })).toThrow(/MONGODB_URL: is required/);
  });
});
