import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { fromSocket } from '../../src/transport/socket.js';
import { countWrites, describeTransport, expectTransportError, failureOf, Reader } from './harness.js';

/** A listening server on 127.0.0.1 and a client socket to it, still connecting. */
async function socketPair(defer: (cleanup: () => unknown) => void): Promise<{ client: Socket; server: Socket }> {
  const listener: Server = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  defer(() => new Promise((resolve) => listener.close(resolve)));
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  defer(() => client.destroy());
  const [server] = await accepted;
  defer(() => server.destroy());
  return { client, server };
}

describeTransport({
  name: 'socket',
  // A TCP reset (what destroy and terminate send) reaches the peer as ECONNRESET.
  peerFailureCode: 'E_TRANSPORT_ERROR',
  async open(options, defer) {
    const { client, server } = await socketPair(defer);
    return {
      a: fromSocket(client, options),
      b: fromSocket(server, options),
      terminateB: () => server.resetAndDestroy(),
    };
  },
});

describe('fromSocket', () => {
  it('sends what one turn writes in one writev, in order', async () => {
    const { client, server } = await socketPair(defer);
    const transport = fromSocket(client);
    const counts = countWrites(client);
    const reader = new Reader(fromSocket(server));
    const big = Buffer.alloc(100 * 1024, 0xee);
    for (let i = 0; i < 5; i++) transport.write(Buffer.from([i]));
    transport.writev([Buffer.from('header'), big]);
    transport.write(Buffer.from([42]));
    // Nothing has left yet: the socket is corked until the turn ends.
    expect(counts).toEqual({ write: 0, writev: 0, chunks: 0 });
    const total = 5 + 6 + big.length + 1;
    await reader.atLeast(total);
    expect(counts).toEqual({ write: 0, writev: 1, chunks: 8 });
    const bytes = reader.bytes();
    expect([...bytes.subarray(0, 11)]).toEqual([0, 1, 2, 3, 4, ...Buffer.from('header')]);
    expect(bytes.subarray(11, 11 + big.length).equals(big)).toBe(true);
    expect(bytes[total - 1]).toBe(42);
  });

  it('accepts writes while the socket is still connecting', async () => {
    const listener = createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    defer(() => new Promise((resolve) => listener.close(resolve)));
    const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
    defer(() => client.destroy());
    expect(client.connecting).toBe(true);
    const transport = fromSocket(client);
    const atClient = new Reader(transport);
    expect(transport.writev([Buffer.from('early '), Buffer.from('bird')])).toBe(true);
    transport.close();
    const [server] = (await once(listener, 'connection')) as [Socket];
    defer(() => server.destroy());
    const remote = fromSocket(server);
    const reader = new Reader(remote);
    expect(await reader.done).toBeUndefined();
    expect(reader.bytes().toString()).toBe('early bird');
    expect(await atClient.done).toBeUndefined();
  });

  it('sees a remote that ends cleanly as a clean close', async () => {
    const { client, server } = await socketPair(defer);
    const transport = fromSocket(client);
    const reader = new Reader(transport);
    server.end('bye');
    expect(await reader.done).toBeUndefined();
    expect(reader.bytes().toString()).toBe('bye');
    expect(await firstValueFrom(transport.closed$)).toEqual({});
  });

  it('fails with E_TRANSPORT_CLOSED when handed an already destroyed socket', async () => {
    const { client } = await socketPair(defer);
    client.destroy();
    const transport = fromSocket(client);
    expect(transport.isOpen).toBe(false);
    expectTransportError(await failureOf(new Reader(transport)), 'E_TRANSPORT_CLOSED');
  });
});
