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
