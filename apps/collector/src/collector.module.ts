import { Module, type DynamicModule } from '@nestjs/common';
import type { CollectorConfig } from '@winnow/config';
import { bearer, createClient } from '@winnow/grpc';
import { createRegistry } from '@winnow/observability';
import { ClassifierService, ConfigService } from '@winnow/proto';
import { CollectorHost } from './collector.host';
import { CollectorMetrics } from './collector.metrics';
import { DomainRegistry } from './domain-registry';
import { EventPipeline } from './event-pipeline';
import { TrackingService } from './tracking.service';
import { CLASSIFIER_CLIENT, COLLECTOR_CONFIG, CONFIG_CLIENT, METRICS } from './tokens';

@Module({})
export class CollectorModule {
  static forConfig(config: CollectorConfig): DynamicModule {
    return {
      module: CollectorModule,
      providers: [
        { provide: COLLECTOR_CONFIG, useValue: config },
        { provide: METRICS, useFactory: () => createRegistry('collector') },
        { provide: CLASSIFIER_CLIENT, useFactory: () => createClient(ClassifierService, config.classifierAddress, { metadata: bearer(config.serviceKey), tls: config.grpcTls }) },
        { provide: CONFIG_CLIENT, useFactory: () => createClient(ConfigService, config.configAddress, { metadata: bearer(config.serviceKey), tls: config.grpcTls }) },
        CollectorMetrics,
        DomainRegistry,
        EventPipeline,
        TrackingService,
        CollectorHost,
      ],
    };
  }
}
