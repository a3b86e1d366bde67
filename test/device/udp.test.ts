/**
 * A device's UDP forward whose target cannot be reached: the client fails, the process lives.
 * (The connect callback used to ignore its error and send on the unconnected socket, which
 * threw out of the callback and took the whole device down.) The lookup is made to fail by
 * hand, so that no name is ever sent to a resolver.
 */
import { Subject, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as Dgram from 'node:dgram';
import { forwardUdp } from '../../src/device/udp.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, scriptedTransport, internal } from '../rx/helpers.js';
import { within } from '../support/index.js';

vi.mock('node:dgram', async (importOriginal) => {
  const dgram = await importOriginal<typeof Dgram>();
  const { lookup } = await import('node:dns');
  // Fails the one name the test uses; IP literals (the implicit bind to 0.0.0.0) resolve as
  // usual, without a resolver.
  const failingLookup = (host: string, options: unknown, callback: (error: Error | null, ...rest: unknown[]) => void): void => {
    if (host !== 'unreachable.test') {
      lookup(host, options as never, callback as never);
      return;
    }
    setImmediate(() => callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })));
  };
  return {
    ...dgram,
    createSocket: (type: Dgram.SocketType) => dgram.createSocket({ type, lookup: failingLookup as never }),
  };
});

const UNREACHABLE = 'unreachable.test';

describe('forwardUdp', () => {
  afterEach(() => vi.restoreAllMocks());

  it('fails the client when its target cannot be reached, datagrams held or not', async () => {
    const { transport } = scriptedTransport(new Subject<Uint8Array>());
    const tunnel = createTunnel(transport);
    const client = tunnel.open({ ...A, service: 'udp' });
    forwardUdp(client, { host: UNREACHABLE, port: 53 }, 60_000);
    internal(client).receive('data', Buffer.from('held while connecting'));
    const closed = await within(firstValueFrom(client.closed$), 5000, 'the client failing');
    expect(closed.error?.message).toMatch(/ENOTFOUND unreachable\.test/);
    // A datagram after the failure goes nowhere, and throws nothing.
    internal(client).receive('data', Buffer.from('late'));
    tunnel.destroy();
  });
});

describe('forwardUdp under backpressure', () => {
  it('drops the datagrams from the target that find the client without credit, and passes them again after', async () => {
    const dgram = await vi.importActual<typeof Dgram>('node:dgram');
    const target = dgram.createSocket('udp4');
    // Echoes, then tells the test once the echo has been handed to the kernel.
    const echoed = new Subject<void>();
    target.on('message', (message, from) => target.send(message, from.port, from.address, () => echoed.next()));
    await new Promise<void>((resolve) => target.bind(0, '127.0.0.1', resolve));
    const { transport, written } = scriptedTransport(new Subject<Uint8Array>());
    const tunnel = createTunnel(transport);
    const client = tunnel.open({ ...A, service: 'udp' });
    forwardUdp(client, { host: '127.0.0.1', port: target.address().port }, 60_000);
    const echoes = (): string[] => written.filter((f) => f.kind === 'data').map((f) => Buffer.from(f.data).toString());
    const hop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const roundTrip = async (text: string): Promise<void> => {
      const sent = firstValueFrom(echoed);
      internal(client).receive('data', Buffer.from(text));
      await within(sent, 5000, `${text} echoed`);
      // On loopback the echo is in the device socket's queue by now: the next polls of the
      // loop hand it to the forward, which sends or drops it.
      for (let i = 0; i < 3; i++) await hop();
    };
    await roundTrip('first');
    expect(echoes()).toEqual(['first']);
    internal(client).receive('pause', new Uint8Array(0));
    await roundTrip('while paused');
    expect(echoes()).toEqual(['first']);
    internal(client).receive('resume', new Uint8Array(0));
    await roundTrip('after');
    expect(echoes()).toEqual(['first', 'after']);
    tunnel.destroy();
    target.close();
  });
});
