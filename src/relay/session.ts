import { firstValueFrom } from 'rxjs';
import type { WebSocket } from 'ws';
import type { Grant } from '../auth/token.js';
import { createControlChannel, sendHello, toControlErrorBody, type ControlChannel } from '../control/index.js';
import type { Logger } from '../logger.js';
import type { Client } from '../rx/client.js';
import { createTunnel, type OpenClientMeta, type Tunnel } from '../rx/tunnel.js';
import { keepAlive } from '../transport/keepalive.js';
import { fromWebSocket, type CorkableSocket } from '../transport/websocket.js';
import { RelayError } from './errors.js';
import type { RelayOptions } from './options.js';

/** WebSocket close code for a device that never presented a valid token. */
export const CLOSE_NO_TOKEN = 4401;

/** What a session needs from its relay. */
export interface SessionHost {
  readonly id: string;
  readonly ws: WebSocket;
  /** The socket under `ws` (corked per event-loop turn by the transport). */
  readonly socket?: CorkableSocket;
  readonly log: Logger;
  /** The device's address, `host:port`. */
  readonly remote: string;
  readonly options: RelayOptions;
  addToken(jwt: unknown): Promise<Grant>;
  deleteToken(jwt: unknown): void;
  grantsOf(): readonly Grant[];
  /** The grant's ports that the relay's ranges open, by kind. */
  portsOf(grant: Grant): { readonly tcp: readonly number[]; readonly udp: readonly number[] };
}

/**
 * One connected device: its tunnel, its control channel, and what it may serve. The relay
 * routes visitors to it with {@link open}.
 */
export class DeviceSession {
  readonly id: string;
  /** When the device connected. */
  readonly connectedAt = new Date();
  /** Resolves once the device is gone and its clients are closed, with why if it failed. */
  readonly closed: Promise<{ readonly error?: Error }>;
  readonly #host: SessionHost;
  readonly #tunnel: Tunnel;
  readonly #channel: ControlChannel;
  readonly #stopKeepAlive: (() => void) | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(host: SessionHost) {
    this.#host = host;
    this.id = host.id;
    const { options, ws, socket } = host;
    this.#tunnel = createTunnel(fromWebSocket(ws, { socket }), { ...options.tunnelOptions, unknownData: 'reject' });
    this.#channel = createControlChannel(this.#tunnel);
    const keepalive = options.keepalive;
    this.#stopKeepAlive =
      keepalive === false
        ? undefined
        : keepAlive(ws, { interval: keepalive?.interval ?? 120_000, timeout: keepalive?.timeout ?? 10_000 });
    this.closed = firstValueFrom(this.#tunnel.closed$).then(
      (closed) => {
        this.#cleanup();
        return closed;
      },
      () => {
        this.#cleanup();
        return {};
      },
    );
  }

  /** True while the device's tunnel is open. */
  get isOpen(): boolean {
    return !this.#tunnelClosed;
  }

  #tunnelClosed = false;

  /** The device's tunnel (its clients, its stats). */
  get tunnel(): Tunnel {
    return this.#tunnel;
  }

  /** The device's address, `host:port`. */
  get remote(): string {
    return this.#host.remote;
  }

  /** How many clients are open on this device's tunnel. */
  get clientCount(): number {
    return this.#tunnel.clients.size;
  }

  /** Starts the conversation: `grant` (when the token came with the connect), then `hello`. */
  start(hasToken: boolean): void {
    const channel = this.#channel;
    const log = this.#host.log;
    // No result: answered `[-n, null]` (as telebit does), not `[-n, null, null]`.
    const addToken = async (args: readonly unknown[]): Promise<void> => {
      let grant: Grant;
      try {
        grant = await this.#host.addToken(args[0]);
      } catch (error) {
        // Logged like a refusal on connect; the device gets the same {message, code}.
        const { message, code } = toControlErrorBody(error);
        log.warn({ code }, `token refused: ${message}`);
        throw error;
      }
      log.info({ subject: grant.subject, domains: grant.domains, ports: grant.ports }, 'token added');
      this.granted(grant);
    };
    channel.handle('add_token', addToken);
    channel.handle('auth', addToken);
    channel.handle('delete_token', (args) => {
      this.#host.deleteToken(args[0]);
      log.info({ which: args[0] === '*' ? '*' : 'one' }, 'token deleted');
      // A device left with no token gets the same grace as one that connected without.
      if (this.#host.grantsOf().length === 0) this.#armGrace();
      return undefined;
    });
    channel.notices$.subscribe((notice) => log.warn({ code: notice.code }, `device: ${notice.message}`));
    sendHello(channel).subscribe({
      error: (error: unknown) => log.warn({ err: error instanceof Error ? error.message : String(error) }, 'hello failed'),
    });
    // The telebit device connects bare and adds its token after hello: give it a while.
    if (!hasToken) this.#armGrace();
  }

  /** The device's last token expired: it gets the grace to add a fresh one. */
  tokensGone(): void {
    this.#armGrace('E_TOKEN_EXPIRED: its token expired');
  }

  /**
   * Closes the device if it still holds no valid token after `tokenGrace`, with code 4401 and
   * the reason `E_CODE: message` (a close reason holds at most 123 bytes).
   */
  #armGrace(reason = 'E_NO_TOKEN: no valid token'): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    const grace = this.#host.options.tokenGrace ?? 30_000;
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      if (this.#host.grantsOf().length > 0) return;
      this.#host.log.warn({ code: 'E_NO_TOKEN' }, `no valid token within ${grace} ms: closing`);
      this.#host.ws.close(CLOSE_NO_TOKEN, reason);
    }, grace);
    this.#graceTimer.unref();
  }

  /** Tells the device something it should know, out of band (`[0, {message, code}]`). */
  notice(body: { readonly message: string; readonly code: string }): void {
    this.#channel.sendNotice(body);
  }

  /** Tells the device what it now serves (telebit's `grant` push; never answered). */
  granted(grant: Grant): void {
    const grants: unknown[] = [];
    for (const domain of grant.domains) grants.push(['https', domain], ['http', domain]);
    const label = grant.domains[0] ?? '';
    const ports = this.#host.portsOf(grant);
    for (const port of ports.tcp) grants.push(['tcp', label, [port]]);
    for (const port of ports.udp) grants.push(['udp', label, [port]]);
    this.#channel.push('grant', grants);
  }

  /** Opens a client toward the device for a visitor. */
  open(meta: OpenClientMeta): Client {
    if (this.#tunnelClosed) throw new RelayError('E_NO_DEVICE', `device ${this.id} is gone`);
    return this.#tunnel.open(meta);
  }

  /** Tells the device that this relay drains: it should move to another (telebit peers ignore it). */
  drain(): void {
    this.#channel.push('drain');
  }

  /** Drops the device and its clients. */
  close(): void {
    this.#tunnel.destroy();
  }

  #cleanup(): void {
    this.#tunnelClosed = true;
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#stopKeepAlive?.();
  }
}
