/**
 * Acceptance: how clients end, fail and go away over a real TCP tunnel, and that nothing is
 * left behind when the tunnel is gone.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { firstValueFrom, toArray, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer, runCleanup } from '../support/index.js';
import { RemoteError, TunnelError, connectSocket, type Client, type ClientClosed } from '../../src/rx/index.js';
import {
  MiB,
  activeResources,
  closedOf,
  dialLocal,
  listen,
  onClose,
  publicServer,
  readSocket,
  rng,
  tcp,
  turns,
  visit,
  writeUntilClosed,
  type Defer,
  type SocketReading,
} from './harness.js';

/** The kinds of handle a leak would show as. */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'] as const;

type Counts = Record<(typeof WATCHED)[number], number>;

/** The watched handles once those closed by now are gone (two loop turns: see `turns`). */
async function counts(): Promise<Counts> {
  await turns(2);
  const active = activeResources();
  return Object.fromEntries(WATCHED.map((kind) => [kind, active.get(kind) ?? 0])) as Counts;
}

/**
 * No more handles of each watched kind than before the test, plus those it still holds on
 * purpose (`held`). Fewer is fine: the worker's own timers come and go.
 */
function expectNoExtra(now: Counts, before: Counts, held: Partial<Counts> = {}): void {
  for (const kind of WATCHED) {
    expect(now[kind], kind).toBeLessThanOrEqual(before[kind] + (held[kind] ?? 0));
  }
}

/**
 * A local service that reads and drops everything. `flowing(n, bytes)` settles once `n`
 * connections have each delivered at least `bytes`.
 */
async function sinkServer(defer: Defer): Promise<{
  port: number;
  closed: Promise<void>[];
  flowing(connections: number, bytes: number): Promise<void>;
}> {
  const closed: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const received: number[] = [];
  const waiters: (() => void)[] = [];
  const check = (): void => waiters.forEach((waiter) => waiter());
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    closed.push(onClose(socket).then(() => void sockets.delete(socket)));
    const index = received.push(0) - 1;
    socket.on('data', (chunk: Buffer) => {
      received[index] = (received[index] ?? 0) + chunk.length;
      check();
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  const port = await listen(server, defer);
  defer(() => Promise.all([...sockets].map((socket) => (socket.destroy(), onClose(socket)))));
  return {
    port,
    closed,
    flowing: (connections, bytes) =>
      new Promise<void>((resolve) => {
        const waiter = (): void => {
          if (received.filter((count) => count >= bytes).length >= connections) resolve();
        };
        waiters.push(waiter);
        waiter();
      }),
  };
}

/** Everything a client receives, as text, with how data$ ended. */
function collect(client: Client): Promise<{ text: string; error?: unknown }> {
  return new Promise((resolve) => {
    let text = '';
    client.data$.subscribe({
      next: (chunk) => (text += Buffer.from(chunk).toString()),
      complete: () => resolve({ text }),
      error: (error: unknown) => resolve({ text, error }),
    });
  });
}

const A = { family: 'IPv4', address: '192.0.2.7', port: 4242, service: 'tcp', serviceport: 22, name: 'life.test' };

function codeOf(closed: ClientClosed): string | undefined {
  return (closed.error as { code?: string } | undefined)?.code;
}

// Each test takes well under a second; a generous bound keeps a hang from eating the file's budget.
const TIMEOUT = { timeout: 10_000 };

describe('tunnel lifecycle over TCP', () => {

  for (const killed of ['device', 'relay'] as const) {
    it(`fails every client on both sides with E_TUNNEL_CLOSED when the ${killed}'s socket is destroyed mid-transfer, and leaks nothing`, TIMEOUT, async () => {
      const VISITORS = 5;
      const before = await counts();
      const pair = await tcp.open(defer);
      const { relay, device } = pair;
      // The device's local service swallows what it gets: the transfer runs one way. (With an
      // endless echo both directions saturate, a `pause` queues behind megabytes of data going
      // the same way, and a remote that honours it still overshoots maxClientBuffer: clients
      // would be destroyed with E_CLIENT_BUFFER_OVERFLOW before the cut.)
      const local = await sinkServer(defer);

      const links: Subscription[] = [];
      const deviceClients: Client[] = [];
      const localClosed: Promise<unknown>[] = [];
      const accepting = device.clients$.subscribe((client) => {
        deviceClients.push(client);
        const socket = dialLocal(local.port, defer);
        socket.on('error', () => undefined);
        localClosed.push(onClose(socket));
        links.push(connectSocket(client, socket));
      });
      const entry = await publicServer(relay, (client, socket) => links.push(connectSocket(client, socket)), defer);
      const relayClosed = firstValueFrom(relay.closed$);
      const deviceClosed = firstValueFrom(device.closed$);

      // Visitors write until their socket closes, so no transfer can finish before the cut, and
      // never end (a half-closed client is the next test's business).
      const pool = randomBytes(MiB);
      const readings: SocketReading[] = [];
      const writes: Promise<void>[] = [];
      for (let i = 0; i < VISITORS; i++) {
        const socket = visit(entry.port, defer);
        readings.push(readSocket(socket));
        writes.push(writeUntilClosed(socket, pool, rng(i + 1)));
      }
      // Mid-transfer: the service has had 256 KiB through each of its connections.
      await local.flowing(VISITORS, 256 * 1024);
      expect(relay.clients.size).toBe(VISITORS);
      expect(device.clients.size).toBe(VISITORS);

      if (killed === 'device') pair.killDeviceCarrier();
      else pair.killRelayCarrier();

      // Every client on both sides fails with E_TUNNEL_CLOSED.
      const closes = await Promise.all([...entry.clients, ...deviceClients].map(closedOf));
      expect(closes).toHaveLength(2 * VISITORS);
      for (const closed of closes) {
        expect(closed.error).toBeInstanceOf(TunnelError);
        expect(codeOf(closed)).toBe('E_TUNNEL_CLOSED');
      }
      // The tunnel whose socket was destroyed under it reports the failure.
      const [relayEnd, deviceEnd] = await Promise.all([relayClosed, deviceClosed]);
      expect((killed === 'device' ? deviceEnd : relayEnd).error).toBeDefined();
      expect(relay.clients.size).toBe(0);
      expect(device.clients.size).toBe(0);

      // The joined sockets are destroyed: visitors see their connection fail (a reset, never a
      // clean end that would pass a cut transfer for a whole one), local connections go.
      await Promise.all([...readings.map((reading) => reading.closed), ...entry.closed, ...localClosed, ...local.closed]);
      for (const reading of readings) {
        expect(reading.ended).toBe(false);
        expect(reading.error).toBeDefined();
        expect(reading.length).toBe(0);
      }
      await Promise.all(writes);
      await pair.carriersClosed;

      // Nothing left: no socket and no timer beyond what the test holds (its three listening
      // servers), and every subscription the test made has been closed by the library.
      expect(accepting.closed).toBe(true);
      expect(links).toHaveLength(2 * VISITORS);
      expect(links.every((link) => link.closed)).toBe(true);
      expectNoExtra(await counts(), before, { TCPServerWrap: 3 });
      await runCleanup();
      expectNoExtra(await counts(), before);
    });
  }

  it('fails a half-closed client on both sides too when the tunnel goes away, and destroys its socket', TIMEOUT, async () => {
    const before = await counts();
    const pair = await tcp.open(defer);
    const { relay, device } = pair;
    // A local service that reads everything and never ends: the device keeps its half open.
    const serviceSockets: Socket[] = [];
    let endRead!: (socket: Socket) => void;
    const relayEndArrived = new Promise<Socket>((resolve) => (endRead = resolve));
    const service = createServer({ allowHalfOpen: true }, (socket) => {
      serviceSockets.push(socket);
      void onClose(socket);
      socket.on('error', () => undefined);
      socket.once('end', () => endRead(socket));
      socket.resume();
    });
    const port = await listen(service, defer);
    defer(() => Promise.all(serviceSockets.map((socket) => (socket.destroy(), onClose(socket)))));
    let local: Socket | undefined;
    let link: Subscription | undefined;
    const accepted = firstValueFrom(device.clients$);
    const accepting = device.clients$.subscribe((client) => {
      local = dialLocal(port, defer);
      local.on('error', () => undefined);
      link = connectSocket(client, local);
    });

    const client = relay.open(A);
    client.write(Buffer.from('last words'));
    client.end();
    const remote = await accepted;
    // The relay's end has gone all the way: the service has read it from the device's socket.
    const serviceSocket = await relayEndArrived;
    expect(remote.closed).toBe(false);
    expect(client.closed).toBe(false);

    pair.killDeviceCarrier();
    for (const closed of await Promise.all([closedOf(client), closedOf(remote)])) {
      expect(closed.error).toBeInstanceOf(TunnelError);
      expect(codeOf(closed)).toBe('E_TUNNEL_CLOSED');
    }
    // The device's socket to the service is destroyed. (The service's own socket cannot tell:
    // it had read the end and never writes. It is the test's to close.)
    await Promise.all([onClose(local as Socket), pair.carriersClosed]);
    serviceSocket.destroy();
    await onClose(serviceSocket);
    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
    expect(link?.closed).toBe(true);
    expect(accepting.closed).toBe(true);
    expect(serviceSockets).toHaveLength(1);
    expectNoExtra(await counts(), before, { TCPServerWrap: 2 });
  });

  it('ends a client on the other side when one side ends it, both ways, then forgets it', TIMEOUT, async () => {
    const before = await counts();
    const { relay, device, carriersClosed } = await tcp.open(defer);
    const accepted: Client[] = [];
    const accepting = device.clients$.subscribe((client) => accepted.push(client));
    const nextAccepted = (): Promise<Client> =>
      new Promise((resolve) => {
        const sub = device.clients$.subscribe((client) => {
          sub.unsubscribe();
          resolve(client);
        });
      });

    // The relay ends first: the device's data$ completes, the device may still answer.
    let incoming = nextAccepted();
    const first = relay.open(A);
    const atRelay = collect(first);
    first.write(Buffer.from('ping'));
    first.end();
    const remote = await incoming;
    expect(await collect(remote)).toEqual({ text: 'ping' });
    expect(remote.closed).toBe(false);
    remote.write(Buffer.from('pong'));
    remote.end();
    expect(await atRelay).toEqual({ text: 'pong' });
    expect(await closedOf(first)).toEqual({});
    expect(await closedOf(remote)).toEqual({});

    // The device ends first: the relay's data$ completes, the relay may still send.
    incoming = nextAccepted();
    const second = relay.open({ ...A, port: 4243 });
    const atRelay2 = collect(second);
    second.write(Buffer.from('hello'));
    const remote2 = await incoming;
    const atDevice2 = collect(remote2);
    remote2.end();
    expect(await atRelay2).toEqual({ text: '' });
    expect(second.closed).toBe(false);
    second.write(Buffer.from(' and goodbye'));
    second.end();
    expect(await atDevice2).toEqual({ text: 'hello and goodbye' });
    expect(await closedOf(second)).toEqual({});
    expect(await closedOf(remote2)).toEqual({});

    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
    relay.close();
    expect(await firstValueFrom(device.closed$)).toEqual({});
    expect(await firstValueFrom(relay.closed$)).toEqual({});
    await carriersClosed;
    expect(accepting.closed).toBe(true);
    expect(accepted).toHaveLength(2);
    expectNoExtra(await counts(), before, { TCPServerWrap: 1 });
  });

  it('errors a client on the other side with the same code when one side destroys it with an error, both ways', TIMEOUT, async () => {
    const { relay, device } = await tcp.open(defer);
    const accepted: Client[] = [];
    device.clients$.subscribe((client) => accepted.push(client));
    const frames = firstValueFrom(device.frames$.pipe(toArray()));

    // Relay → device.
    const first = relay.open(A);
    first.write(Buffer.from('some bytes'));
    const atRelay = collect(first);
    const boom = Object.assign(new Error('the visitor went away'), { code: 'E_TEST_GONE' });
    const deviceSide = await firstValueFrom(device.clients$);
    const atDevice = collect(deviceSide);
    first.destroy(boom);
    const failed = await atDevice;
    expect(failed.text).toBe('some bytes');
    expect(failed.error).toBeInstanceOf(RemoteError);
    expect(failed.error).toMatchObject({ code: 'E_TEST_GONE', message: 'the visitor went away', clientId: deviceSide.id });
    expect(await closedOf(deviceSide)).toEqual({ error: failed.error });
    expect(await closedOf(first)).toEqual({ error: boom });
    expect((await atRelay).error).toBe(boom);

    // Device → relay.
    const second = relay.open({ ...A, port: 4243 });
    const atRelay2 = collect(second);
    const deviceSide2 = await firstValueFrom(device.clients$);
    deviceSide2.destroy(Object.assign(new Error('no such service'), { code: 'E_TEST_NO_SERVICE' }));
    const failed2 = await atRelay2;
    expect(failed2.error).toBeInstanceOf(RemoteError);
    expect(failed2.error).toMatchObject({ code: 'E_TEST_NO_SERVICE', message: 'no such service', clientId: second.id });
    expect(await closedOf(second)).toEqual({ error: failed2.error });

    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
    relay.close();
    const kinds = (await frames).map((frame) => frame.kind);
    expect(kinds.filter((kind) => kind === 'error')).toHaveLength(1);
    expect(accepted).toHaveLength(2);
  });

  it('fails the visitor of a client whose local connection the device cannot make, with the local error code', TIMEOUT, async () => {
    const before = await counts();
    const { relay, device, carriersClosed } = await tcp.open(defer);
    // A local service that resets every connection it accepts.
    const refusing = createServer((socket: Socket) => socket.resetAndDestroy());
    const port = await listen(refusing, defer);
    const deviceLinks: Subscription[] = [];
    const accepting = device.clients$.subscribe((client) => {
      const socket = dialLocal(port, defer);
      deviceLinks.push(connectSocket(client, socket));
    });
    const relayLinks: Subscription[] = [];
    const entry = await publicServer(relay, (client, socket) => relayLinks.push(connectSocket(client, socket)), defer);

    const visitor = visit(entry.port, defer);
    // The visitor sends nothing: the device's only error is then the reset read on connect.
    const reading = readSocket(visitor);
    await reading.closed;
    expect(reading.length).toBe(0);
    await Promise.all(entry.closed);

    const [client] = entry.clients;
    const closed = await closedOf(client as Client);
    expect(closed.error).toBeInstanceOf(RemoteError);
    expect(codeOf(closed)).toBe('ECONNRESET');
    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
    expect([...relayLinks, ...deviceLinks].every((link) => link.closed)).toBe(true);

    device.close();
    expect(await firstValueFrom(relay.closed$)).toEqual({});
    await carriersClosed;
    expect(accepting.closed).toBe(true);
    expectNoExtra(await counts(), before, { TCPServerWrap: 3 });
  });
});
