import { Module, type DynamicModule } from '@nestjs/common';
import type { ClassifierConfig } from '@winnow/config';
import { bearer, createClient } from '@winnow/grpc';
import { createRegistry } from '@winnow/observability';
import { StatsService } from '@winnow/proto';
import { ClassifierApi } from './classifier-api';
import { ClassifierHost } from './classifier.host';
import { CLASSIFIER_CONFIG, METRICS, STATS_CLIENT } from './tokens';

@Module({})
export class ClassifierModule {
  static forConfig(config: ClassifierConfig): DynamicModule {
    return {
      module: ClassifierModule,
      providers: [
        { provide: CLASSIFIER_CONFIG, useValue: config },
        { provide: METRICS, useFactory: () => createRegistry('classifier') },
        { provide: STATS_CLIENT, useFactory: () => createClient(StatsService, config.statsAddress, { metadata: bearer(config.serviceKey), tls: config.grpcTls }) },
        ClassifierApi,
        ClassifierHost,
      ],
    };
  }
}
