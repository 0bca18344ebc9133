// The collector under test, as its own process, from the built packages. Configuration comes
// from the environment as in production. Prints its ports on stdout once listening.
import 'reflect-metadata';
import { ConsoleLogger } from '@nestjs/common';
import { loadCollectorConfig } from '@winnow/config';
import { startCollector } from '@winnow/collector';

const service = await startCollector(loadCollectorConfig(), new ConsoleLogger({ logLevels: ['error', 'fatal'] }));
process.stdout.write(`${JSON.stringify(service.ports)}\n`);
process.on('SIGTERM', () => service.close().then(() => process.exit(0)));
