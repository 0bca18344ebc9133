// The baseline for bench:collector: a bare node:http server answering every request with the
// same 43-byte GIF and headers the collector sends. Prints its port on stdout.
import { createServer } from 'node:http';

const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const headers = {
  'content-type': 'image/gif',
  'content-length': String(gif.length),
  'cache-control': 'no-store, no-cache, must-revalidate, private, max-age=0',
  pragma: 'no-cache',
  expires: '0',
};
const server = createServer((_req, res) => res.writeHead(200, headers).end(gif));
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
