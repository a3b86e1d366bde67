import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { fromWebSocket } from '../../src/transport/index.js';
import { describeTransport, expectTransportError, failureOf, Reader } from './harness.js';

type Defer = (cleanup: () => unknown) => void;

/** A ws server on 127.0.0.1 and a client still connecting to it. */
async function wsPair(defer: Defer): Promise<{ client: WebSocket; server: Promise<WebSocket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  defer(() => new Promise((resolve) => wss.close(resolve)));
  const server = new Promise<WebSocket>((resolve) => {
    wss.once('connection', (ws) => {
      defer(() => ws.terminate());
      resolve(ws);
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  defer(() => client.terminate());
  return { client, server };
}

describeTransport({
  name: 'WebSocket',
  // Without a close frame the peer sees close code 1006.
  peerFailureCode: 'E_TRANSPORT_CLOSED',
  async open(options, defer) {
    const { client, server } = await wsPair(defer);
    // Wrapped while connecting, so every test also covers the pending queue.
    const a = fromWebSocket(client, options);
    const ws = await server;
    return { a, b: fromWebSocket(ws, options), terminateB: () => ws.terminate() };
  },
});

describe('fromWebSocket', () => {
  let cleanups: (() => unknown)[] = [];
  const defer: Defer = (cleanup) => void cleanups.push(cleanup);
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
  });

  it('fails with E_TEXT_MESSAGE on a text message and closes with 1003', async () => {
    const { client, server } = await wsPair(defer);
    const transport = fromWebSocket(client);
    const reader = new Reader(transport);
    const ws = await server;
    const remoteClose = once(ws, 'close') as Promise<[number, Buffer]>;
    ws.send(Buffer.from('binary first'));
    ws.send('hello');
    const error = await failureOf(reader);
    expectTransportError(error, 'E_TEXT_MESSAGE');
    expect(reader.bytes().toString()).toBe('binary first');
    expect(transport.isOpen).toBe(false);
    expect(transport.write(Buffer.from('x'))).toBe(false);
    const [code] = await remoteClose;
    expect(code).toBe(1003);
    expect((await firstValueFrom(transport.closed$)).error).toBe(error);
  });

  it('sends what was written while connecting once the socket opens, then closes', async () => {
    const { client, server } = await wsPair(defer);
    expect(client.readyState).toBe(WebSocket.CONNECTING);
    const transport = fromWebSocket(client);
    const atClient = new Reader(transport);
    expect(transport.write(Buffer.from('one '))).toBe(true);
    expect(transport.writev([Buffer.from('two '), Buffer.from('three')])).toBe(true);
    expect(transport.bufferedAmount).toBe(13);
    transport.close();
    const remote = fromWebSocket(await server);
    const reader = new Reader(remote);
    expect(await reader.done).toBeUndefined();
    expect(reader.bytes().toString()).toBe('one two three');
    expect(await atClient.done).toBeUndefined();
    expect(await firstValueFrom(transport.closed$)).toEqual({});
  });

  it('sends a small writev as one message and a large one as several', async () => {
    const { client, server } = await wsPair(defer);
    const transport = fromWebSocket(client);
    const ws = await server;
    const sizes: number[] = [];
    ws.on('message', (data: Buffer) => sizes.push(data.length));
    transport.writev([Buffer.alloc(10), Buffer.alloc(20)]);
    transport.writev([Buffer.alloc(10), Buffer.alloc(64 * 1024)]);
    transport.write(Buffer.alloc(1));
    while (sizes.length < 4) await once(ws, 'message');
    expect(sizes).toEqual([30, 10, 64 * 1024, 1]);
  });

  it('joins small writes of one event-loop turn into one message, in order', async () => {
    const { client, server } = await wsPair(defer);
    const transport = fromWebSocket(client);
    const ws = await server;
    if (client.readyState !== client.OPEN) await once(client, 'open');
    const messages: Buffer[] = [];
    ws.on('message', (data: Buffer) => messages.push(data));
    for (let i = 0; i < 10; i++) transport.write(Buffer.from([i]));
    transport.write(Buffer.alloc(64 * 1024, 0xff));
    transport.write(Buffer.from([42]));
    while (messages.reduce((n, m) => n + m.length, 0) < 10 + 64 * 1024 + 1) await once(ws, 'message');
    expect(messages.map((m) => m.length)).toEqual([10, 64 * 1024, 1]);
    expect([...(messages[0] as Buffer)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(messages[2]?.[0]).toBe(42);
  });

  for (const binaryType of ['arraybuffer', 'fragments'] as const) {
    it(`reads binary messages with binaryType ${binaryType}`, async () => {
      const { client, server } = await wsPair(defer);
      client.binaryType = binaryType;
      const transport = fromWebSocket(client);
      const reader = new Reader(transport);
      const ws = await server;
      ws.send(Buffer.from('abc'));
      ws.send(Buffer.from('def'));
      await reader.atLeast(6);
      expect(reader.chunks.every((chunk) => chunk instanceof Uint8Array)).toBe(true);
      expect(reader.bytes().toString()).toBe('abcdef');
    });
  }

  it('fails with E_TRANSPORT_CLOSED and the close code on an abnormal close', async () => {
    const { client, server } = await wsPair(defer);
    const transport = fromWebSocket(client);
    const reader = new Reader(transport);
    const ws = await server;
    ws.close(1001, 'going away');
    const error = await failureOf(reader);
    expectTransportError(error, 'E_TRANSPORT_CLOSED');
    expect(error).toMatchObject({ closeCode: 1001 });
  });

  it('fails with E_TRANSPORT_ERROR when the connection cannot be made', async () => {
    const listener = createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const { port } = listener.address() as AddressInfo;
    await new Promise((resolve) => listener.close(resolve));
    // The port was just released: connecting to it is refused.
    const dead = new WebSocket(`ws://127.0.0.1:${port}`);
    defer(() => dead.terminate());
    const transport = fromWebSocket(dead);
    expect(transport.write(Buffer.from('queued'))).toBe(true);
    const closed = await firstValueFrom(transport.closed$);
    expectTransportError(closed.error, 'E_TRANSPORT_ERROR');
    expect(transport.bufferedAmount).toBe(0);
  });
});
