/**
 * Acceptance: many clients echoed through a tunnel over real carriers, every byte accounted
 * for, every client closed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { firstValueFrom, Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { connectSocket, type Client } from '../../src/rx/index.js';
import {
  MiB,
  closedOf,
  dialLocal,
  echoServer,
  hashData,
  onClose,
  publicServer,
  readSocket,
  rng,
  sha256,
  tcp,
  visit,
  writeClient,
  writeSocket,
  ws,
} from './harness.js';

/**
 * The device side of the echo, in RxJS alone: whatever arrives is written back. When writing is
 * not welcome (the relay paused the client, or the tunnel is congested) the bytes wait here and
 * are reported as the consumer's backlog, so that the relay is paused in turn. Ends the client
 * once the relay has ended and all is written back.
 */
function echo(client: Client): Subscription {
  const subscription = new Subscription();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let writable = true;
  let ended = false;
  let pumping = false;
  const pump = (): void => {
    if (pumping) return;
    pumping = true;
    while (writable && queue.length > 0) {
      const chunk = queue.shift() as Uint8Array;
      queued -= chunk.length;
      if (!client.write(chunk)) writable = false;
    }
    pumping = false;
    client.setConsumerBacklog(queued);
    if (ended && queue.length === 0) client.end();
  };
  subscription.add(
    client.writable$.subscribe((now) => {
      writable = now;
      if (now) pump();
    }),
  );
  subscription.add(
    client.data$.subscribe({
      next: (chunk) => {
        queue.push(chunk);
        queued += chunk.length;
        pump();
      },
      complete: () => {
        ended = true;
        pump();
      },
    }),
  );
  // writable$ lives as long as the tunnel: let go of it once the client is finished.
  subscription.add(client.closed$.subscribe(() => subscription.unsubscribe()));
  return subscription;
}

describe('tunnel echo over real carriers', () => {

  for (const carrier of [tcp, ws]) {
    it(`echoes 100 concurrent clients × 1 MiB over ${carrier.name}, then closes every client`, { timeout: 20_000 }, async () => {
      const CLIENTS = 100;
      const SIZE = MiB;
      const seed = randomBytes(4).readUInt32LE();
      const { relay, device } = await carrier.open(defer);

      const echoes: Subscription[] = [];
      const deviceClients: Client[] = [];
      const accepting = device.clients$.subscribe((client) => {
        deviceClients.push(client);
        echoes.push(echo(client));
      });

      const sent = Array.from({ length: CLIENTS }, () => randomBytes(SIZE));
      const started = performance.now();
      const clients = sent.map((_, i) =>
        relay.open({ family: 'IPv4', address: '192.0.2.1', port: 10_000 + i, service: 'tcp', serviceport: 7, name: 'echo.test' }),
      );
      const received = await Promise.all(
        clients.map(async (client, i) => {
          const [result] = await Promise.all([hashData(client), writeClient(client, sent[i] as Buffer, rng(seed + i))]);
          return result;
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      // Informational: 100 MiB each way through one carrier, both tunnels in this process.
      console.info(`${carrier.name} echo: ${((2 * CLIENTS * SIZE) / MiB / seconds).toFixed(0)} MiB/s (both directions)`);

      received.forEach((result, i) => {
        expect(result.length, `client ${i}, seed ${seed}`).toBe(SIZE);
        expect(result.hash, `client ${i}, seed ${seed}`).toBe(sha256(sent[i] as Buffer));
      });

      // Both sides have ended every client: each is finished cleanly on both sides.
      expect(await Promise.all(clients.map(closedOf))).toEqual(clients.map(() => ({})));
      expect(deviceClients).toHaveLength(CLIENTS);
      expect(await Promise.all(deviceClients.map(closedOf))).toEqual(clients.map(() => ({})));
      expect(relay.clients.size).toBe(0);
      expect(device.clients.size).toBe(0);
      expect(echoes.every((subscription) => subscription.closed)).toBe(true);

      relay.close();
      expect(await firstValueFrom(relay.closed$)).toEqual({});
      expect(await firstValueFrom(device.closed$)).toEqual({});
      expect(accepting.closed).toBe(true);
    });
  }

  it('carries 20 visitors × 1 MiB from real sockets to a local echo service and back', { timeout: 20_000 }, async () => {
    const VISITORS = 20;
    const SIZE = MiB;
    const seed = randomBytes(4).readUInt32LE();
    const { relay, device } = await tcp.open(defer);
    const local = await echoServer(defer);

    // Device: each client the relay opens is joined to a fresh connection to the echo service.
    const links: Subscription[] = [];
    const localClosed: Promise<unknown>[] = [];
    const deviceClients: Client[] = [];
    const accepting = device.clients$.subscribe((client) => {
      const socket = dialLocal(local.port, defer);
      localClosed.push(onClose(socket));
      deviceClients.push(client);
      links.push(connectSocket(client, socket));
    });

    // Relay: each visitor accepted on the public port becomes a client joined to its socket.
    const entry = await publicServer(relay, (client, socket) => links.push(connectSocket(client, socket)), defer);

    const started = performance.now();
    const visitors = Array.from({ length: VISITORS }, async (_, i) => {
      const data = randomBytes(SIZE);
      const socket = visit(entry.port, defer);
      let ownEnd = false;
      let endAfterOwnEnd = false;
      const reading = readSocket(socket);
      socket.once('end', () => (endAfterOwnEnd = ownEnd));
      await writeSocket(socket, data, rng(seed + i), { end: false });
      ownEnd = true;
      socket.end();
      await reading.closed;
      return { sent: sha256(data), received: reading.hash.digest('hex'), length: reading.length, endAfterOwnEnd, error: reading.error };
    });
    const results = await Promise.all(visitors);
    const seconds = (performance.now() - started) / 1000;
    console.info(`visitor → relay → TCP tunnel → device → echo: ${((2 * VISITORS * SIZE) / MiB / seconds).toFixed(0)} MiB/s (both directions)`);

    results.forEach((result, i) => {
      expect(result.error, `visitor ${i}`).toBeUndefined();
      expect(result.length, `visitor ${i}, seed ${seed}`).toBe(SIZE);
      expect(result.received, `visitor ${i}, seed ${seed}`).toBe(result.sent);
      expect(result.endAfterOwnEnd, `visitor ${i}`).toBe(true);
    });

    // Every socket on the way closed by itself, and every client with it, cleanly.
    await Promise.all([...entry.closed, ...localClosed, ...local.closed]);
    expect(entry.clients).toHaveLength(VISITORS);
    expect(await Promise.all(entry.clients.map(closedOf))).toEqual(entry.clients.map(() => ({})));
    expect(await Promise.all(deviceClients.map(closedOf))).toEqual(entry.clients.map(() => ({})));
    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
    expect(entry.sockets.size).toBe(0);
    expect(local.sockets.size).toBe(0);
    expect(links.every((link) => link.closed)).toBe(true);

    device.close();
    expect(await firstValueFrom(device.closed$)).toEqual({});
    expect(await firstValueFrom(relay.closed$)).toEqual({});
    expect(accepting.closed).toBe(true);
  });
});
