import { loadOperatorConfig } from '@winnow/config';
import { runService } from '@winnow/observability';
import { startOperator } from './bootstrap';

void runService('operator', loadOperatorConfig, (c) => startOperator(c));
