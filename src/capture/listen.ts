/**
 * Listen on host:port (port 0 = any free one) and resolve with the base URL `http://host:port`
 * (IPv6 in brackets). A port that is taken or not allowed becomes an InputError naming --port, so
 * the CLI prints one line and exits 2. Used by the collector and the dashboard.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../core/errors.ts';

export async function listenOn(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
        reject(new InputError('--port', '', `cannot listen on ${host}:${port}: ${e.code}`));
      } else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' || e.code === 'EAI_NONAME') {
        reject(new InputError('--host', '', `cannot listen on ${host}: the name does not resolve (${e.code}); expected an address of this machine`));
      } else reject(e);
    });
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${h}:${a.port}`;
}
