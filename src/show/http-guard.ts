/**
 * What keeps a web page from driving ballast's local servers (the collector and the dashboard):
 *
 * - Binding: loopback means exactly `localhost`, `::1` or an IPv4 literal 127.a.b.c; anything else
 *   (including names such as `127.foo.invalid`) is off loopback and needs a token (`checkBind`).
 * - Host: on loopback, the Host header must be exactly `127.0.0.1:PORT`, `localhost:PORT`,
 *   `[::1]:PORT` (or the bound address with the port). That stops DNS rebinding: a page on
 *   attacker.example rebound to 127.0.0.1 still sends `Host: attacker.example`.
 * - Token (when set): `Authorization: Bearer T`, `?token=T` (EventSource, the first page load) or the
 *   `ballast_token` cookie, which a valid `?token=` sets (HttpOnly, SameSite=Strict) so the dashboard
 *   page's own requests carry it. Compared in constant time.
 * - State-changing requests (anything but GET/HEAD): an `Origin` header, when sent, must be one of
 *   the server's own origins; `Sec-Fetch-Site` must be same-origin or none; and the body must be
 *   `application/json`, which a page cannot send cross-origin without a CORS preflight this server
 *   never grants.
 * A page can still make a browser send a "simple" request, but every such request fails one of these.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { InputError } from '../core/errors.ts';

/** True when `host` (as given to --host) is a loopback address. Exact: 127.foo.invalid is not. */
export function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true;
  return isIPv4(h) && h.startsWith('127.');
}

/**
 * Refuse to listen off loopback without a token.
 * @throws InputError naming `hostFlag` and `tokenFlag`.
 */
export function checkBind(host: string, token: string | undefined, hostFlag: string, tokenFlag: string): void {
  if (!isLoopbackBind(host) && !token) {
    throw new InputError(hostFlag, '', `listening on ${host} (not loopback: only localhost, ::1 and 127.x.y.z are) needs ${tokenFlag}; clients then send it as a bearer token`);
  }
}

/** The Host values a loopback server accepts. */
export function allowedHosts(bindHost: string, port: number): Set<string> {
  const b = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${b.toLowerCase()}:${port}`]);
}

function sameToken(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(header: string | undefined): string {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'ballast_token') return decodeURIComponent(v.join('='));
  }
  return '';
}

export interface GuardOptions {
  /** Address bound (as given to --host). */
  bindHost: string;
  /** Port listened on (known after listen). */
  port: () => number;
  token?: string;
  /** Set the `ballast_token` cookie when `?token=` is right (browser pages). */
  cookie?: boolean;
}

export function httpGuard(o: GuardOptions): MiddlewareHandler {
  const loopback = isLoopbackBind(o.bindHost);
  return async (c, next) => {
    const hostHeader = (c.req.header('host') ?? '').toLowerCase();
    if (loopback && !allowedHosts(o.bindHost, o.port()).has(hostHeader)) {
      return c.text(`forbidden host ${JSON.stringify(hostHeader)}; expected 127.0.0.1, localhost or [::1] with port ${o.port()}\n`, 403);
    }
    let setCookie = false;
    if (o.token) {
      const h = c.req.header('authorization') ?? '';
      const query = c.req.query('token') ?? '';
      const given = h.startsWith('Bearer ') ? h.slice(7) : query || cookieToken(c.req.header('cookie'));
      if (!sameToken(given, o.token)) return c.text('unauthorized\n', 401);
      setCookie = Boolean(o.cookie && query && sameToken(query, o.token));
    }
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      const origin = c.req.header('origin');
      if (origin !== undefined) {
        const ok = loopback
          ? [...allowedHosts(o.bindHost, o.port())].some((h) => origin.toLowerCase() === `http://${h}`)
          : origin.toLowerCase() === `http://${hostHeader}` || origin.toLowerCase() === `https://${hostHeader}`;
        if (!ok) return c.text(`cross-origin request from ${origin} refused\n`, 403);
      }
      const site = c.req.header('sec-fetch-site');
      if (site !== undefined && site !== 'same-origin' && site !== 'none') return c.text(`cross-site request refused (Sec-Fetch-Site: ${site})\n`, 403);
      const ct = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (ct !== 'application/json') return c.text(`expected Content-Type: application/json, got ${JSON.stringify(ct)}\n`, 415);
    }
    if (setCookie) c.header('Set-Cookie', `ballast_token=${encodeURIComponent(o.token!)}; HttpOnly; SameSite=Strict; Path=/`);
    await next();
  };
}

/** Port of a base URL `http://host:port` (0 before listening). */
export function portOf(url: string): number {
  const m = /:(\d+)$/.exec(url);
  return m ? Number(m[1]) : 0;
}
