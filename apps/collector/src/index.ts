export { startCollector } from './bootstrap';
export { PIXEL_GIF } from './pixel';
