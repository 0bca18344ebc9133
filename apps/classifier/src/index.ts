export { startClassifier } from './bootstrap';
