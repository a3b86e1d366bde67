import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { fromSocket } from '../../src/transport/socket.js';
import { describeTransport, expectTransportError, failureOf, Reader } from './harness.js';

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
