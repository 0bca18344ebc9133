import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { ClassifierConfig } from '@winnow/config';
import { jsonLogger, type RunningService } from '@winnow/observability';
import { ClassifierModule } from './classifier.module';
import { ClassifierHost } from './classifier.host';

/** Starts the classifier service; resolves once it listens. */
export async function startClassifier(
  config: ClassifierConfig,
  logger: LoggerService = jsonLogger('classifier', config.logLevel),
): Promise<RunningService> {
  const app = await NestFactory.createApplicationContext(ClassifierModule.forConfig(config), { logger, abortOnError: false });
  await app.init();
  const host = app.get(ClassifierHost);
  return { name: 'classifier', ports: { grpc: host.grpcPort, http: host.httpPort }, close: () => app.close() };
}
