import { loadClassifierConfig } from '@winnow/config';
import { runService } from '@winnow/observability';
import { startClassifier } from './bootstrap';

void runService('classifier', loadClassifierConfig, startClassifier);
