import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * For the download tests: a local HTTP server in place of d2l's address, answering each path of
 * `files` with its bytes and any other with 404. `onRequest` sees every request (to count them).
 */
export async function serveFiles(files: Record<string, Uint8Array>, onRequest: () => void = () => {}): Promise<{ base: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    onRequest();
    const path = req.url ?? '';
    if (Object.hasOwn(files, path)) res.end(files[path]);
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
