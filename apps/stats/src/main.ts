import { loadStatsConfig } from '@winnow/config';
import { runService } from '@winnow/observability';
import { startStats } from './bootstrap';

void runService('stats', loadStatsConfig, startStats);
