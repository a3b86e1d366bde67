/**
 * The admin listener of a relay or a device: `/metrics` (Prometheus), a JSON API, and a live
 * dashboard page fed by Server-Sent Events.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { interval, startWith, type Subscription } from 'rxjs';
import type { Device } from '../device/device.js';
import { silentLogger, type Logger } from '../logger.js';
import type { TunnelMetrics } from '../metrics/tunnel-metrics.js';
import { joinHostPort } from '../transport/host-port.js';
import { clientInfo, type Relay } from '../relay/relay.js';
import { parseListen, type ListenAddress } from '../relay/options.js';
import { dashboardPage } from './dashboard.js';
import { AdminError } from './errors.js';

/** How often the dashboard's event stream sends a sample (ms). */
export const ADMIN_EVENT_INTERVAL = 1000;

/** Options of {@link createAdminServer}: exactly one of `relay` and `device`. */
export interface AdminOptions {
  /** `host:port` (port 0: any free one). */
  listen: string | ListenAddress;
  /**
   * The bearer token every request must carry (`Authorization: Bearer …`, or `?token=` for the
   * dashboard page and its event stream). Required when `listen` is not a loopback address.
   */
  token?: string;
  relay?: Relay;
  device?: Device;
  /** How often the event stream samples (ms). Default {@link ADMIN_EVENT_INTERVAL}. */
  eventInterval?: number;
  logger?: Logger;
}

/** A running admin listener. */
export interface AdminServer {
  readonly address: AddressInfo;
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the admin listener. Routes: `GET /metrics`; `GET /api/devices`, `DELETE
 * /api/devices/ID`, `DELETE /api/tokens/JTI` (relay); `GET /api/device` (device); `GET
 * /api/traffic`; `GET /api/events` (Server-Sent Events); `GET /` (the dashboard).
 * @throws {AdminError} `E_ADMIN_TOKEN_REQUIRED` for a non-loopback address without a token,
 * `E_ADMIN_NO_METRICS` for a relay or device made without `metrics`.
 */
export async function createAdminServer(options: AdminOptions): Promise<AdminServer> {
  const at = parseListen(options.listen, { host: '127.0.0.1', port: 9090 }, 'admin');
  const target = options.relay ?? options.device;
  if (!target || (options.relay && options.device)) throw new AdminError('E_ADMIN_NO_METRICS', 'the admin listener serves one relay or one device');
  const found = target.metrics;
  if (!found) throw new AdminError('E_ADMIN_NO_METRICS', 'the admin listener needs a relay or device made with metrics: true');
  if (!options.token && !isLoopback(at.host)) {
    throw new AdminError('E_ADMIN_TOKEN_REQUIRED', `the admin listener on ${at.host} is not on loopback: give it a token (--admin-token-file)`);
  }
  const metrics: TunnelMetrics = found;
  const log = options.logger ?? silentLogger;
  const streams = new Set<Subscription>();
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'admin request failed');
      if (!res.headersSent) send(res, 500, { message: 'internal error', code: 'E_INTERNAL' });
      else res.destroy();
    });
  });
  const every = options.eventInterval ?? ADMIN_EVENT_INTERVAL;

  const snapshot = (): unknown => ({
    time: Date.now(),
    role: options.relay ? 'relay' : 'device',
    devices: options.relay ? options.relay.devices().map(({ clients, ...device }) => ({ ...device, clientCount: clients.length })) : [deviceInfo(options.device as Device)],
    traffic: metrics.traffic(),
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (options.token && !authorized(req, url, options.token)) {
      log.warn({ remote: req.socket.remoteAddress, path: url.pathname, code: 'E_ADMIN_UNAUTHORIZED' }, 'admin request without a valid token');
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { message: 'a bearer token is required', code: 'E_ADMIN_UNAUTHORIZED' });
    }
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (method === 'GET' && (path === '/' || path === '/dashboard')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" });
      res.end(dashboardPage());
      return;
    }
    if (method === 'GET' && path === '/api/traffic') return send(res, 200, metrics.traffic());
    if (method === 'GET' && path === '/api/events') return events(req, res);
    if (options.relay) {
      const relay = options.relay;
      if (method === 'GET' && path === '/api/devices') return send(res, 200, relay.devices());
      const device = /^\/api\/devices\/([^/]+)$/.exec(path);
      if (device && method === 'DELETE') {
        const id = decodeURIComponent(device[1] as string);
        return relay.disconnectDevice(id) ? send(res, 200, { disconnected: id }) : send(res, 404, { message: `no device ${id}`, code: 'E_NO_DEVICE' });
      }
      const token = /^\/api\/tokens\/([^/]+)$/.exec(path);
      if (token && method === 'DELETE') {
        const jti = decodeURIComponent(token[1] as string);
        return send(res, 200, { revoked: jti, disconnected: relay.revokeToken(jti) });
      }
    } else if (method === 'GET' && path === '/api/device') {
      return send(res, 200, deviceInfo(options.device as Device));
    }
    send(res, 404, { message: `no route ${method} ${path}`, code: 'E_NOT_FOUND' });
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    // One sample per period for each open page, from the observables' counters: nothing per chunk.
    const subscription = interval(every)
      .pipe(startWith(0))
      .subscribe(() => res.write(`data: ${JSON.stringify(snapshot())}\n\n`));
    streams.add(subscription);
    const stop = (): void => {
      subscription.unsubscribe();
      streams.delete(subscription);
    };
    req.once('close', stop);
    res.once('close', stop);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.error({ err: error.message }, 'admin listener error'));
  const address = server.address() as AddressInfo;
  const url = `http://${joinHostPort(address.address, address.port)}`;
  log.info({ url, token: options.token ? 'required' : 'none' }, 'admin listener ready');
  return {
    address,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of streams) stream.unsubscribe();
        streams.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function deviceInfo(device: Device): unknown {
  const tunnel = device.tunnel;
  const now = Date.now();
  return {
    id: device.label,
    label: device.label,
    state: device.state,
    forwards: device.forwards,
    stats: tunnel?.stats ?? null,
    clients: tunnel
      ? [...tunnel.clients.values()].map((client) => clientInfo(client, now))
      : [],
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Whether the request carries the token (compared in constant time, by digest). */
function authorized(req: IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7).trim() : url.searchParams.get('token');
  if (!given) return false;
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** Whether `host` only reaches this machine: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}
