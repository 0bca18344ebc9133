import { loadCollectorConfig } from '@winnow/config';
import { runService } from '@winnow/observability';
import { startCollector } from './bootstrap';

void runService('collector', loadCollectorConfig, startCollector);
