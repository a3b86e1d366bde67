import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../../src/index.js';
import { SECRET, defer, freePort, memoryLogger, serve, startDevice, startRelay, until, type LogEntry } from '../support/index.js';

/**
 * The test's own reading of a PROXY header (not src/'s): v1 per its text form, v2 for TCP over
 * IPv4/IPv6. Resolves with the addresses and what followed the header.
 */
function readHeader(socket: net.Socket): Promise<{ version: number; source: string; sport: number; dest: string; dport: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.subarray(0, 6).toString('latin1') === 'PROXY ') {
        const end = head.indexOf('\r\n');
        if (end < 0) return;
        const [, proto, source, dest, sport, dport] = head.subarray(0, end).toString('latin1').split(' ');
        expect(proto).toMatch(/^TCP[46]$/);
        done({ version: 1, source: source as string, dest: dest as string, sport: Number(sport), dport: Number(dport), rest: head.subarray(end + 2) });
      } else if (head.length >= 16) {
        expect(head.subarray(0, 12).toString('hex')).toBe('0d0a0d0a000d0a515549540a');
        expect(head[12]).toBe(0x21);
        const length = 16 + head.readUInt16BE(14);
        if (head.length < length) return;
        const v6 = head[13] === 0x21;
        const width = v6 ? 16 : 4;
        const ip = (at: number): string =>
          v6 ? Array.from({ length: 8 }, (_, i) => head.readUInt16BE(at + 2 * i).toString(16)).join(':') : Array.from(head.subarray(at, at + 4)).join('.');
        done({ version: 2, source: ip(16), dest: ip(16 + width), sport: head.readUInt16BE(16 + 2 * width), dport: head.readUInt16BE(18 + 2 * width), rest: head.subarray(length) });
      }
    };
    const done = (value: Parameters<typeof resolve>[0]): void => {
      socket.off('data', onData);
      resolve(value);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** A local service that reads the PROXY header of each connection, then echoes the rest. */
async function headerEcho(): Promise<{ port: number; headers: Awaited<ReturnType<typeof readHeader>>[] }> {
  const headers: Awaited<ReturnType<typeof readHeader>>[] = [];
  const { port } = await serve(
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      void readHeader(socket).then((header) => {
        headers.push(header);
        socket.write(header.rest);
        socket.pipe(socket);
      });
    }),
  );
  return { port, headers };
}

/** Connects (from `from`, a loopback address), writes `data`, ends, and resolves with what came back. */
async function visit(port: number, data: Buffer | string, from = '127.0.0.1'): Promise<{ back: Buffer; localPort: number }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from, allowHalfOpen: false });
  defer(() => void socket.destroy());
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const localPort = socket.localPort as number;
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.end(data);
  // A refused connection is reset: only its close matters here.
  await closed;
  return { back: Buffer.concat(chunks), localPort };
}

describe('PROXY protocol', () => {
  it('puts a v1 or v2 header before each connection to a proxy= local service: the visitor and the relay', async () => {
    const [p1, p2] = [await freePort('tcp'), await freePort('tcp')];
    const relay = await startRelay({ tcpPorts: `${p1},${p2}` });
    const local = await headerEcho();
    const token = await issueToken(SECRET, { ports: [p1, p2] });
    await startDevice(relay, { token, forwards: [`tcp:${p1}=127.0.0.1:${local.port},proxy=v1`, `tcp:${p2}=127.0.0.1:${local.port},proxy=v2`] });
    await until(() => relay.ports.tcp.length === 2, 'the relay listening on both ports');

    const one = await visit(p1, 'through v1');
    const two = await visit(p2, 'through v2');
    expect(one.back.toString()).toBe('through v1');
    expect(two.back.toString()).toBe('through v2');
    expect(local.headers).toEqual([
      { version: 1, source: '127.0.0.1', sport: one.localPort, dest: '127.0.0.1', dport: p1, rest: expect.any(Buffer) },
      { version: 2, source: '127.0.0.1', sport: two.localPort, dest: '127.0.0.1', dport: p2, rest: expect.any(Buffer) },
    ]);
  });

  it('takes the visitor address from a trusted load balancer, and refuses bad, truncated, oversized and untrusted headers', async () => {
    const port = await freePort('tcp');
    const entries: LogEntry[] = [];
    const relay = await startRelay({ tcpPorts: String(port), acceptProxyProtocol: '127.0.0.1/32', logger: memoryLogger(entries) });
    const local = await headerEcho();
    const token = await issueToken(SECRET, { ports: [port], domains: ['app.localhost'] });
    await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${local.port},proxy=v1`] });
    await until(() => relay.ports.tcp.includes(port), 'the relay listening');
    const refusals = (code: string): number => entries.filter((e) => e.context['code'] === code && e.level === 'warn').length;

    // A trusted source's v1 and v2 headers: the local service hears of the real visitor.
    const v2 = Buffer.concat([
      Buffer.from('0d0a0d0a000d0a515549540a', 'hex'),
      Buffer.from([0x21, 0x11, 0, 12, 198, 51, 100, 11, 127, 0, 0, 1, 0x11, 0xd7, 0, 80]),
    ]);
    expect((await visit(port, 'PROXY TCP4 203.0.113.7 127.0.0.1 4567 80\r\nhello')).back.toString()).toBe('hello');
    expect((await visit(port, Buffer.concat([v2, Buffer.from('again')]))).back.toString()).toBe('again');
    expect(local.headers.map(({ source, sport }) => `${source}:${sport}`)).toEqual(['203.0.113.7:4567', '198.51.100.11:4567']);

    // Bad signature, truncated, oversized: closed with a log line, nothing reaches the device.
    await visit(port, 'SSH-2.0-OpenSSH\r\n');
    await visit(port, 'PROXY TCP4 203.0.113.7 127.0.0.1 45');
    await visit(port, `PROXY TCP4 ${'1'.repeat(150)}\r\n`);
    await visit(relay.addresses.public.port, 'PROXY TCP4 203.0.113.7 127.0.0.1 45');
    // A header from a source not trusted to send one, on a claimed port and on the visitor listener.
    await visit(port, 'PROXY TCP4 203.0.113.7 127.0.0.1 4567 80\r\nhello', '127.0.0.2');
    await visit(relay.addresses.public.port, 'PROXY TCP4 203.0.113.7 127.0.0.1 4567 443\r\nGET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n', '127.0.0.2');
    await until(() => refusals('E_PROXY_UNTRUSTED') === 2, 'two untrusted headers refused');
    expect(refusals('E_PROXY_SIGNATURE')).toBe(1);
    expect(refusals('E_PROXY_TRUNCATED')).toBe(2);
    expect(refusals('E_PROXY_TOO_LONG')).toBe(1);
    expect(entries.find((e) => e.context['code'] === 'E_PROXY_TOO_LONG')?.message).toMatch(/visitor refused: bad PROXY header/);
    expect(local.headers).toHaveLength(2);

    // And the relay goes on serving: a good header after all that, and an untrusted plain visitor.
    expect((await visit(port, 'PROXY TCP4 192.0.2.1 127.0.0.1 1000 80\r\nstill')).back.toString()).toBe('still');
    expect((await visit(port, 'plain', '127.0.0.2')).back.toString()).toBe('plain');
    expect(local.headers.slice(2).map(({ source }) => source)).toEqual(['192.0.2.1', '127.0.0.2']);
  });
});
