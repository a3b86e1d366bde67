/**
 * Live figures of a relay or a device in the Prometheus text format (prom-client). Bytes are
 * read from the clients' own counters when `/metrics` is scraped (and once more as each client
 * closes): nothing is added to the path the bytes take.
 */
import type { Counter, Registry } from 'prom-client';
import { lazyModule } from '../lazy-module.js';
import type { Client } from '../rx/client.js';
import type { Tunnel } from '../rx/tunnel.js';

const promClient = lazyModule<typeof import('prom-client')>('prom-client');

/** What one (device, name) pair has carried: the same figures `/metrics` gives. */
export interface NameTraffic {
  readonly device: string;
  readonly name: string;
  /** Bytes received from the tunnel's peer for this name (on a relay: from the device). */
  readonly bytesIn: number;
  /** Bytes sent into the tunnel for this name (on a relay: from visitors, toward the device). */
  readonly bytesOut: number;
  /** Clients open now. */
  readonly clients: number;
}

interface Tracked {
  readonly device: string;
  readonly name: string;
  bytesIn: number;
  bytesOut: number;
  pausedMs: number;
}

/** Why a relay or device refused something, by its code: the `reason` label. */
export function refusalReason(code: string): string {
  if (code === 'E_NO_DEVICE') return 'no_device';
  if (code === 'E_NO_FORWARD') return 'no_forward';
  if (code.startsWith('E_TOKEN_') || code === 'E_AUTH_REFUSED' || code === 'E_NO_TOKEN' || code === 'E_PORT_NOT_ALLOWED') return 'bad_token';
  if (code.startsWith('E_PROXY_')) return 'proxy_header';
  if (code === 'E_INVALID_PROTOCOL' || code === 'E_SNIFF_TIMEOUT') return 'bad_request';
  return 'other';
}

/** The `name` label of a client: the name it asked for, else `service:port`. */
export function nameOf(client: Client): string {
  const { meta } = client;
  return meta.name || `${meta.service || 'tcp'}:${meta.serviceport ?? ''}`;
}

/**
 * The metrics of one relay or device, in a registry of their own (not prom-client's global
 * one). The relay and the device report to it; {@link registry} is what `/metrics` serves.
 */
export class TunnelMetrics {
  /** The prom-client registry `/metrics` serves: `await registry.metrics()`. */
  readonly registry: Registry = new (promClient().Registry)();
  readonly #clients = new Map<Client, Tracked>();
  readonly #tunnels = new Map<Tunnel, string>();
  readonly #rtt = new Map<string, number>();
  /** Bytes per `device\0name`, the same sums the counters hold. */
  readonly #totals = new Map<string, { device: string; name: string; bytesIn: number; bytesOut: number }>();
  readonly #bytesIn: Counter<'device' | 'name'>;
  readonly #bytesOut: Counter<'device' | 'name'>;
  readonly #pausedSeconds: Counter<'device' | 'name'>;
  readonly #opened: Counter<'device' | 'name'>;
  readonly #closed: Counter<'device' | 'name'>;
  readonly #failed: Counter<'device' | 'name' | 'code'>;
  readonly #refusals: Counter<'reason' | 'code'>;
  readonly #connects: Counter;
  readonly #reconnects: Counter;
  readonly #disconnects: Counter;
  #devices = 0;

  constructor() {
    const { Counter, Gauge } = promClient();
    const registers = [this.registry];
    const sample = (): void => this.#sample();
    this.#bytesIn = new Counter({ name: 'mproxy_bytes_in_total', help: 'Data bytes received from the tunnel peer (relay: from the device toward visitors), as they flow', labelNames: ['device', 'name'], registers, collect: sample });
    this.#bytesOut = new Counter({ name: 'mproxy_bytes_out_total', help: 'Data bytes sent into the tunnel (relay: from visitors toward the device), as they flow', labelNames: ['device', 'name'], registers, collect: sample });
    this.#pausedSeconds = new Counter({ name: 'mproxy_client_paused_seconds_total', help: 'Time clients spent paused by the tunnel peer, all told', labelNames: ['device', 'name'], registers, collect: sample });
    this.#opened = new Counter({ name: 'mproxy_clients_opened_total', help: 'Clients opened', labelNames: ['device', 'name'], registers });
    this.#closed = new Counter({ name: 'mproxy_clients_closed_total', help: 'Clients closed, cleanly or not', labelNames: ['device', 'name'], registers });
    this.#failed = new Counter({ name: 'mproxy_clients_failed_total', help: 'Clients that ended with an error, by its code', labelNames: ['device', 'name', 'code'], registers });
    const clients = this;
    new Gauge({
      name: 'mproxy_clients_open',
      help: 'Clients open now',
      labelNames: ['device', 'name'],
      registers,
      collect() {
        this.reset();
        for (const [client, tracked] of clients.#clients) if (!client.closed) this.inc({ device: tracked.device, name: tracked.name });
      },
    });
    new Gauge({
      name: 'mproxy_clients_paused',
      help: 'Clients the tunnel peer has paused now',
      labelNames: ['device', 'name'],
      registers,
      collect() {
        this.reset();
        for (const [client, tracked] of clients.#clients) if (client.stats.paused) this.inc({ device: tracked.device, name: tracked.name });
      },
    });
    new Gauge({
      name: 'mproxy_tunnel_queued_bytes',
      help: 'Bytes held in a tunnel: inbound not yet taken by consumers, outbound not yet handed to the transport',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const [tunnel, device] of clients.#tunnels) {
          const stats = tunnel.stats;
          this.set({ device }, stats.bufferedIn + stats.bufferedOut);
        }
      },
    });
    new Gauge({
      name: 'mproxy_control_rtt_seconds',
      help: 'Round-trip time of the tunnel connection (WebSocket ping), last measured',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const [device, seconds] of clients.#rtt) this.set({ device }, seconds);
      },
    });
    new Gauge({
      name: 'mproxy_devices_connected',
      help: 'Devices connected now (on a device: 1 while connected to its relay)',
      registers,
      collect() {
        this.set(clients.#devices);
      },
    });
    this.#connects = new Counter({ name: 'mproxy_device_connects_total', help: 'Device connections made (relay: accepted; device: to its relay)', registers });
    this.#reconnects = new Counter({ name: 'mproxy_device_reconnects_total', help: 'Device connections after the first (device only)', registers });
    this.#disconnects = new Counter({ name: 'mproxy_device_disconnects_total', help: 'Device connections lost or closed', registers });
    this.#refusals = new Counter({ name: 'mproxy_refusals_total', help: 'Refusals by reason (bad_token, no_device, no_forward, proxy_header, bad_request) and code', labelNames: ['reason', 'code'], registers });
  }

  /** A client to follow until it closes, under `device` (and its name). */
  clientOpened(device: string, client: Client): void {
    const name = nameOf(client);
    const tracked: Tracked = { device, name, bytesIn: 0, bytesOut: 0, pausedMs: 0 };
    this.#clients.set(client, tracked);
    this.#opened.inc({ device, name });
    // One subscription per client, none per chunk: its last bytes are counted as it closes.
    client.closed$.subscribe(({ error }) => {
      this.#count(client, tracked);
      this.#clients.delete(client);
      this.#closed.inc({ device, name });
      if (error) {
        const code = (error as { code?: unknown }).code;
        const text = typeof code === 'string' ? code : 'E_UNKNOWN';
        this.#failed.inc({ device, name, code: text });
        if (text === 'E_NO_FORWARD') this.refused(text);
      }
    });
  }

  /** A device's tunnel, for its queue; forgotten when it closes. */
  tunnelOpened(device: string, tunnel: Tunnel): void {
    this.#tunnels.set(tunnel, device);
    this.#devices++;
    this.#connects.inc();
    tunnel.closed$.subscribe(() => {
      this.#tunnels.delete(tunnel);
      this.#rtt.delete(device);
      this.#devices--;
      this.#disconnects.inc();
    });
  }

  /** A device connected again (device side). */
  reconnected(): void {
    this.#reconnects.inc();
  }

  /** Something refused, by its error code. */
  refused(code: string): void {
    this.#refusals.inc({ reason: refusalReason(code), code });
  }

  /** The tunnel of `device` answered a ping in `ms`. */
  roundTrip(device: string, ms: number): void {
    this.#rtt.set(device, ms / 1000);
  }

  /** Bytes per name and device, sampled now: what the dashboard shows, equal to `/metrics`. */
  traffic(): NameTraffic[] {
    this.#sample();
    const open = new Map<string, number>();
    for (const [client, tracked] of this.#clients) {
      if (client.closed) continue;
      const key = `${tracked.device}\0${tracked.name}`;
      open.set(key, (open.get(key) ?? 0) + 1);
    }
    return [...this.#totals.entries()].map(([key, total]) => ({ ...total, clients: open.get(key) ?? 0 }));
  }

  #sample(): void {
    for (const [client, tracked] of this.#clients) this.#count(client, tracked);
  }

  /** Adds what a client carried since it was last looked at. */
  #count(client: Client, tracked: Tracked): void {
    const stats = client.stats;
    const labels = { device: tracked.device, name: tracked.name };
    const dIn = stats.bytesIn - tracked.bytesIn;
    const dOut = stats.bytesOut - tracked.bytesOut;
    const dPaused = stats.pausedMs - tracked.pausedMs;
    if (dIn === 0 && dOut === 0 && dPaused === 0 && this.#totals.has(`${tracked.device}\0${tracked.name}`)) return;
    tracked.bytesIn = stats.bytesIn;
    tracked.bytesOut = stats.bytesOut;
    tracked.pausedMs = stats.pausedMs;
    this.#bytesIn.inc(labels, dIn);
    this.#bytesOut.inc(labels, dOut);
    if (dPaused > 0) this.#pausedSeconds.inc(labels, dPaused / 1000);
    const key = `${tracked.device}\0${tracked.name}`;
    const total = this.#totals.get(key) ?? { device: tracked.device, name: tracked.name, bytesIn: 0, bytesOut: 0 };
    total.bytesIn += dIn;
    total.bytesOut += dOut;
    this.#totals.set(key, total);
  }
}
