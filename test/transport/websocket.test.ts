import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { WebSocket, WebSocketServer } from 'ws';
import { fromWebSocket } from '../../src/transport/websocket.js';
import { describeTransport, expectTransportError, failureOf, Reader } from './harness.js';

type Defer = (cleanup: () => unknown) => void;

/**
 * A ws server on 127.0.0.1 and a client still connecting to it. `server` resolves with the
 * server side's WebSocket and `socket` with the TCP socket under it.
 */
async function wsPair(defer: Defer): Promise<{ client: WebSocket; server: Promise<WebSocket>; socket: Promise<Socket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  defer(() => new Promise((resolve) => wss.close(resolve)));
  let socket!: Promise<Socket>;
  const server = new Promise<WebSocket>((resolve) => {
    socket = new Promise<Socket>((resolveSocket) => {
      wss.once('connection', (ws, request) => {
        defer(() => ws.terminate());
        resolveSocket(request.socket as Socket);
        resolve(ws);
      });
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  defer(() => client.terminate());
  return { client, server, socket };
}

/** Counts the socket's `_write` and `_writev` calls (each one write syscall or more). */
function countWrites(socket: Socket): { write: number; writev: number; chunks: number } {
  const counts = { write: 0, writev: 0, chunks: 0 };
  const target = socket as unknown as {
    _write: (...args: unknown[]) => void;
    _writev: (chunks: unknown[], ...args: unknown[]) => void;
  };
  const write = target._write.bind(socket);
  const writev = target._writev.bind(socket);
  target._write = (...args) => {
    counts.write++;
    counts.chunks++;
    write(...args);
  };
  target._writev = (chunks, ...args) => {
    counts.writev++;
    counts.chunks += chunks.length;
    writev(chunks, ...args);
  };
  return counts;
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

describeTransport({
  name: 'WebSocket with its socket corked per turn',
  peerFailureCode: 'E_TRANSPORT_CLOSED',
  async open(options, defer) {
    const { client, server, socket } = await wsPair(defer);
    const [response] = (await once(client, 'upgrade')) as [{ socket: Socket }];
    const a = fromWebSocket(client, { ...options, socket: response.socket });
    const ws = await server;
    return { a, b: fromWebSocket(ws, { ...options, socket: await socket }), terminateB: () => ws.terminate() };
  },
});

describe('fromWebSocket', () => {

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

  it('joins small parts into one message and sends large ones on their own, written while connecting as after', async () => {
    const { client, server } = await wsPair(defer);
    const transport = fromWebSocket(client);
    const ws = await server;
    const sizes: number[] = [];
    ws.on('message', (data: Buffer) => sizes.push(data.length));
    transport.writev([Buffer.alloc(10), Buffer.alloc(20)]);
    transport.writev([Buffer.alloc(10), Buffer.alloc(64 * 1024)]);
    transport.write(Buffer.alloc(1));
    while (sizes.length < 3) await once(ws, 'message');
    expect(sizes).toEqual([40, 64 * 1024, 1]);
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

  it('with its socket, sends what one turn writes in one writev, in order', async () => {
    const { client, server, socket } = await wsPair(defer);
    const ws = await server;
    const transport = fromWebSocket(ws, { socket: await socket });
    const counts = countWrites(await socket);
    const received: Buffer[] = [];
    client.on('message', (data: Buffer) => received.push(data));
    const big = Buffer.alloc(100 * 1024, 0xee);
    for (let i = 0; i < 5; i++) transport.write(Buffer.from([i]));
    transport.writev([Buffer.from('header'), big]);
    transport.write(Buffer.alloc(64 * 1024, 0xff));
    transport.write(Buffer.from([42]));
    // Nothing has left yet: the socket is corked until the turn ends.
    expect(counts).toEqual({ write: 0, writev: 0, chunks: 0 });
    const total = 5 + 6 + big.length + 64 * 1024 + 1;
    while (received.reduce((n, m) => n + m.length, 0) < total) await once(client, 'message');
    expect(counts.write).toBe(0);
    expect(counts.writev).toBe(1);
    const bytes = Buffer.concat(received);
    expect([...bytes.subarray(0, 11)]).toEqual([0, 1, 2, 3, 4, ...Buffer.from('header')]);
    expect(bytes.subarray(11, 11 + big.length).equals(big)).toBe(true);
    expect(bytes[total - 1]).toBe(42);
  });

  it('with its socket, flushes the corked turn before a close frame', async () => {
    const { client, server, socket } = await wsPair(defer);
    const ws = await server;
    const tcp = await socket;
    const transport = fromWebSocket(ws, { socket: tcp });
    const peer = new Reader(fromWebSocket(client));
    transport.write(Buffer.from('last words'));
    expect(tcp.writableCorked).toBe(1);
    transport.close();
    expect(tcp.writableCorked).toBe(0);
    expect(await peer.done).toBeUndefined();
    expect(peer.bytes().toString()).toBe('last words');
  });

  it('with its socket, leaves it uncorked when destroyed mid-turn', async () => {
    const { client, server, socket } = await wsPair(defer);
    const ws = await server;
    if (client.readyState !== client.OPEN) await once(client, 'open');
    const tcp = await socket;
    const transport = fromWebSocket(ws, { socket: tcp });
    transport.write(Buffer.from('dropped'));
    expect(tcp.writableCorked).toBe(1);
    transport.destroy();
    expect(tcp.writableCorked).toBe(0);
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
