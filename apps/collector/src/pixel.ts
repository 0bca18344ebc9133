/** A 1x1 transparent GIF, 43 bytes. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

/**
 * No cache anywhere may keep the pixel, or repeat opens would never reach us. A flat
 * [name, value, ...] list, which Node writes without building a headers object.
 */
export const PIXEL_HEADERS: string[] = [
  'content-type', 'image/gif',
  'content-length', String(PIXEL_GIF.length),
  'cache-control', 'no-store, no-cache, must-revalidate, private, max-age=0',
  'pragma', 'no-cache',
  'expires', '0',
];
