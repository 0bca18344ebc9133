import { join } from 'node:path';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import type { StatsConfig } from '@winnow/config';
import { createRegistry } from '@winnow/observability';
import { KeyEncryptionKey, LmdbEventStore, MongoEventStore, sealStoredSigningKeys, withSealedSigningKeys, type EventStore } from '@winnow/storage';
import { ConfigApi } from './config-api';
import { EmailPreparer } from './email-preparer';
import { ensureDemoTenant } from './demo-tenant';
import { StatsApi } from './stats-api';
import { Ingestor } from './ingest';
import { Reclassifier } from './reclassify';
import { Authenticator } from './auth';
import { StatsHost } from './stats.host';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

async function openStore(config: StatsConfig): Promise<EventStore> {
  const raw =
    config.store === 'mongodb'
      ? new MongoEventStore({ url: config.mongodbUrl!, retentionDays: config.eventRetentionDays })
      : new LmdbEventStore(join(config.dataDir, 'store'), { retentionDays: config.eventRetentionDays });
  await raw.init();
  // Signing keys are sealed at rest under the key-encryption key (docs/privacy.md).
  const { kek, created } = KeyEncryptionKey.fromFile(config.keyEncryptionKeyFile, config.keyEncryptionKeyGenerate);
  const sealed = await sealStoredSigningKeys(raw, kek);
  if (created || sealed > 0) new Logger('KeyEncryption').log({ msg: 'signing keys sealed at rest', keyEncryptionKeyCreated: created ? config.keyEncryptionKeyFile : false, domainsSealedNow: sealed });
  const store = withSealedSigningKeys(raw, kek);
  // A key-encryption key that does not open what is stored stops the start here, not every call later.
  await store.listDomains();
  if (config.demoTenant) await ensureDemoTenant(store);
  return store;
}

@Module({})
export class StatsModule {
  static forConfig(config: StatsConfig): DynamicModule {
    return {
      module: StatsModule,
      providers: [
        { provide: STATS_CONFIG, useValue: config },
        { provide: METRICS, useFactory: () => createRegistry('stats') },
        { provide: EVENT_STORE, useFactory: () => openStore(config) },
        Authenticator,
        Ingestor,
        Reclassifier,
        StatsApi,
        EmailPreparer,
        ConfigApi,
        StatsHost,
      ],
    };
  }
}
