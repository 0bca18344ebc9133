import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import type { StatsConfig } from '@winnow/config';
import { createRegistry } from '@winnow/observability';
import { LmdbEventStore, MongoEventStore, type EventStore } from '@winnow/storage';
import { ConfigApi } from './config-api';
import { ensureDemoTenant } from './demo-tenant';
import { StatsApi } from './stats-api';
import { Ingestor } from './ingest';
import { Reclassifier } from './reclassify';
import { Authenticator } from './auth';
import { StatsHost } from './stats.host';
import { EVENT_STORE, METRICS, STATS_CONFIG } from './tokens';

async function openStore(config: StatsConfig): Promise<EventStore> {
  const store =
    config.store === 'mongodb'
      ? new MongoEventStore({ url: config.mongodbUrl!, retentionDays: config.eventRetentionDays })
      : new LmdbEventStore(join(config.dataDir, 'store'), { retentionDays: config.eventRetentionDays });
  await store.init();
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
        ConfigApi,
        StatsHost,
      ],
    };
  }
}
