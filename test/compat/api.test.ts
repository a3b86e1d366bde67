import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { PassThrough, type Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import Packer, * as named from '../../src/compat/index.js';
import { entries, recorder, reference } from './helpers.js';

const client = Object.freeze({ family: 'IPv4', address: '10.0.0.7', port: 33046 });

function frames(): Buffer {
  return Buffer.concat([
    Packer.packHeader({ ...client, service: 'https' }, Buffer.from('hi'), 'connection', true),
    Packer.pack({ ...client, service: 'https' }, Buffer.from('data')),
    Packer.pack({ ...client }, null, 'pause'),
    Packer.pack({ ...client }, null, 'resume'),
    Packer.pack({ ...client }, { message: 'gone', code: 'ECONNRESET' }, 'error'),
    Packer.pack({ ...client }, null, 'end'),
    Packer.pack({}, [1, 'hello'], 'control'),
  ]);
}

describe('module shape', () => {
  it('has the default export shaped like proxy-packer, and the same as named exports', () => {
    const theirs = Object.keys(reference).sort();
    expect(Object.keys(Packer).sort()).toEqual(theirs);
    for (const key of theirs) expect(named[key as keyof typeof named]).toBe(Packer[key as keyof typeof Packer]);
    expect(Object.keys(Packer.Stream).sort()).toEqual(['create', 'wrapSocket']);
    expect(Packer.Stream.wrapSocket).toBe(Packer.wrapSocket);
    expect(typeof Packer.Transform.create).toBe('function');
  });
});

describe('create: handler mode', () => {
  it('is chosen by onMessage too, and fns.addData is fns.addChunk', () => {
    const seen: unknown[] = [];
    const unpacker = Packer.create({ onMessage: (msg) => seen.push(msg.data?.toString()) });
    expect(unpacker).not.toBeInstanceOf(EventEmitter);
    expect(unpacker.fns.addData).toBe(unpacker.fns.addChunk);
    unpacker.fns.addData(Packer.pack({ ...client }, Buffer.from('x')));
    expect(seen).toEqual(['x']);
  });

  it('sends a frame whose handler is missing to onmessage, except connection (a no-op)', () => {
    const { handlers, calls } = recorder(['onmessage']);
    Packer.create(handlers).fns.addChunk(frames());
    expect(calls.map((c) => c.handler)).toEqual(['onmessage', 'onmessage', 'onmessage', 'onmessage', 'onmessage', 'onmessage']);
    const theirs = recorder(['onmessage']);
    reference.create(theirs.handlers).fns.addChunk(frames());
    expect(calls).toEqual(theirs.calls);
  });

  it('prefers lower-case handlers and reads them from the unpacker when a frame completes', () => {
    const log: string[] = [];
    const unpacker = Packer.create({
      onmessage: () => log.push('onmessage'),
      onend: () => log.push('onend'),
      onEnd: () => log.push('onEnd'),
    });
    unpacker.fns.addChunk(Packer.pack({ ...client }, null, 'end'));
    unpacker.onend = () => log.push('replaced');
    unpacker.fns.addChunk(Packer.pack({ ...client }, null, 'end'));
    expect(log).toEqual(['onend', 'replaced']);
  });

  it('gives the messages proxy-packer gives, key for key', () => {
    const ours = recorder();
    const theirs = recorder();
    Packer.create(ours.handlers).fns.addChunk(frames());
    reference.create(theirs.handlers).fns.addChunk(frames());
    expect(ours.calls).toEqual(theirs.calls);
    expect(ours.calls.map((c) => c.handler)).toEqual(['onconnection', 'onmessage', 'onpause', 'onresume', 'onerror', 'onend', 'oncontrol']);
  });

  it('keeps proxy-packer quirks: "e:" messages for non-JSON error bodies, arrays as error messages', () => {
    const got: named.PackerMessage[] = [];
    const unpacker = Packer.create({ onmessage() {}, onerror: (m) => got.push(m) });
    unpacker.fns.addChunk(Packer.packHeader({ ...client }, Buffer.from('oops'), 'error', true));
    unpacker.fns.addChunk(Packer.packHeader({ ...client }, null, 'error', true));
    unpacker.fns.addChunk(Packer.packHeader({ ...client }, Buffer.from('[1,2]'), 'error', true));
    expect(got[0]?.['message']).toBe('e:{"type":"Buffer","data":[111,111,112,115]}');
    expect(got[0]?.['code']).toBe('E_UNKNOWN_ERR');
    expect(got[1]?.['message']).toBe('e:undefined');
    expect(got[1]?.data).toBeUndefined();
    expect(Array.isArray(got[2])).toBe(true);
    expect(entries(got[2])).toEqual(
      entries(Object.assign([1, 2], { family: 'IPv4', address: '10.0.0.7', port: '33046', service: 'error', serviceport: '', name: '', data: Buffer.from('[1,2]') })),
    );
  });

  it('reports missing trailing header fields as undefined and the 8th field of a connection as service', () => {
    const header = Buffer.from('IPv4,10.0.0.7,1,0,connection');
    const got: named.PackerMessage[] = [];
    const unpacker = Packer.create({ onmessage() {}, onconnection: (m) => got.push(m) });
    unpacker.fns.addChunk(Buffer.concat([Buffer.from([0xfe, header.length]), header]));
    unpacker.fns.addChunk(Packer.packHeader({ ...client, service: 'ssh', serviceport: 22 }, null, 'connection', true));
    expect(got[0]).toEqual({ family: 'IPv4', address: '10.0.0.7', port: '1', service: undefined, serviceport: undefined, name: undefined, data: undefined });
    expect(got[1]).toMatchObject({ service: 'ssh', serviceport: '22', name: '' });
  });

  it('lets a handler feed the unpacker again without reordering frames', () => {
    const seen: string[] = [];
    const unpacker = Packer.create({
      onmessage(msg) {
        seen.push(String(msg.data));
        if (String(msg.data) === 'a') unpacker.fns.addChunk(Packer.pack({ ...client }, Buffer.from('c')));
      },
    });
    unpacker.fns.addChunk(Buffer.concat([Packer.pack({ ...client }, Buffer.from('a')), Packer.pack({ ...client }, Buffer.from('b'))]));
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

describe('create: EventEmitter mode', () => {
  it('is chosen without onmessage, emits tunnel* events with the message, never calls handlers', () => {
    const onend = (): void => expect.unreachable('not called in EventEmitter mode');
    const unpacker = Packer.create({ onend });
    expect(unpacker).toBeInstanceOf(EventEmitter);
    const events: [string, unknown][] = [];
    for (const name of ['tunnelData', 'tunnelConnection', 'tunnelControl', 'tunnelError', 'tunnelEnd', 'tunnelPause', 'tunnelResume'] as const) {
      unpacker.on(name, (msg) => events.push([name, msg.service]));
    }
    unpacker.fns.addChunk(frames());
    expect(events).toEqual([
      ['tunnelConnection', 'https'],
      ['tunnelData', 'https'],
      ['tunnelPause', 'pause'],
      ['tunnelResume', 'resume'],
      ['tunnelError', 'error'],
      ['tunnelEnd', 'end'],
      ['tunnelControl', 'control'],
    ]);
  });

  it('also works without any argument', () => {
    const unpacker = Packer.create();
    const got: string[] = [];
    unpacker.on('tunnelData', (msg) => got.push(String(msg.data)));
    unpacker.fns.addChunk(Packer.pack({ ...client }, Buffer.from('z')));
    expect(got).toEqual(['z']);
  });
});

describe('pack', () => {
  it('mutates meta.service like proxy-packer, except for control and connection', () => {
    const meta: named.PackerMeta = { ...client };
    Packer.pack(meta, null, 'end');
    expect(meta.service).toBe('end');
    Packer.pack(meta, null, 'control');
    Packer.pack(meta, null, 'connection');
    expect(meta.service).toBe('end');
  });

  it('JSON-encodes anything that is not a Buffer, a Uint8Array and a string included', () => {
    for (const data of [new Uint8Array([1, 2]), 'text', { a: 1 }, 42]) {
      expect(Packer.pack({ ...client }, data).toString('hex')).toBe(reference.pack({ ...client }, data).toString('hex'));
    }
  });

  it('writes the header proxy-packer writes when meta.service says control or connection', () => {
    for (const service of ['control', 'connection']) {
      const meta = { ...client, service, serviceport: 443, name: 'example.com' };
      for (const andBody of [true, false]) {
        expect(Packer.packHeader({ ...meta }, Buffer.from('abc'), undefined, andBody).toString('hex')).toBe(
          reference.packHeader({ ...meta }, Buffer.from('abc'), undefined, andBody).toString('hex'),
        );
      }
    }
  });
});

describe('addresses and ids', () => {
  it('builds ids by string concatenation, so missing fields read "undefined"', () => {
    expect(Packer.addrToId({ family: 'IPv4', address: '1.2.3.4', port: 80 })).toBe('IPv4,1.2.3.4,80');
    expect(Packer.addrToId({})).toBe('undefined,undefined,undefined');
    expect(Packer.addrToId({ family: null, address: '', port: '7' })).toBe(reference.addrToId({ family: null, address: '', port: '7' }));
  });

  const sockets: [string, object][] = [
    ['own props', { remoteFamily: 'IPv6', remoteAddress: '::1', remotePort: 5, localPort: 443 }],
    ['underscore props', { _remoteFamily: 'IPv4', _remoteAddress: '1.1.1.1', _remotePort: 6, _localPort: 80 }],
    ['no address', {}],
  ];

  it.each(sockets)('socketToAddr and socketToId read %s as proxy-packer does', (_where, socket) => {
    expect(Packer.socketToAddr(socket)).toEqual(reference.socketToAddr(socket));
    expect(Packer.socketToId(socket)).toBe(reference.socketToId(socket));
  });

  it('reads a real socket', async () => {
    const server = net.createServer((s) => s.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    expect(Packer.socketToAddr(socket)).toEqual({ family: 'IPv4', address: '127.0.0.1', port, serviceport: socket.localPort });
    expect(Packer.socketToAddr(socket)).toEqual(reference.socketToAddr(socket));
    socket.destroy();
    server.close();
  });
});

describe('wrapSocket', () => {
  it('keeps a real socket\'s address readable (proxy-packer\'s own getters recurse forever)', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const [[accepted]] = await Promise.all([
      once(server, 'connection') as Promise<[net.Socket]>,
      once(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'), 'connect'),
    ]);
    const before = { address: accepted.remoteAddress, port: accepted.remotePort, local: accepted.localPort };
    expect(Packer.Stream.wrapSocket(accepted)).toBe(accepted);
    expect({ address: accepted.remoteAddress, port: accepted.remotePort, local: accepted.localPort }).toEqual(before);
    Packer.wrapSocket(accepted); // twice is harmless
    expect(accepted.remotePort).toBe(before.port);
    accepted.destroy();
    server.close();
  });

  it('falls back to the underscore property, then to ""', () => {
    const socket = Packer.wrapSocket({ _remoteAddress: '9.9.9.9' }) as { remoteAddress?: unknown; remotePort?: unknown };
    expect(socket.remoteAddress).toBe('9.9.9.9');
    expect(socket.remotePort).toBe('');
    expect(Object.keys(socket)).toEqual(['_remoteAddress']);
  });

  it('reads the address of a TLS socket around a TCP socket (what proxy-packer dug for in Node\'s handle)', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [[accepted]] = await Promise.all([once(server, 'connection') as Promise<[net.Socket]>, once(client, 'connect')]);
    const wrapped = new tls.TLSSocket(accepted, { isServer: false });
    expect(Packer.socketToAddr(wrapped)).toEqual({ family: 'IPv4', address: '127.0.0.1', port: accepted.remotePort, serviceport: accepted.localPort });
    expect(Packer.wrapSocket(wrapped).remoteAddress).toBe('127.0.0.1');
    wrapped.destroy();
    accepted.destroy();
    client.destroy();
    server.close();
  });
});

describe('Stream.create (deprecated)', () => {
  it('copies the address, forwards writes, and passes reads through', async () => {
    const written: string[] = [];
    const incoming = new PassThrough();
    const inner: named.StreamSocketLike = {
      write(chunk, _encoding, callback) {
        written.push(String(chunk));
        callback();
      },
      read: () => incoming.read() as unknown,
      once: (event, listener) => incoming.once(event, listener),
      remoteAddress: '1.2.3.4',
      remotePort: 5,
      remoteFamily: 'IPv4',
    };
    // Arrives after the duplex first finds nothing to read, so reading must resume on 'readable'.
    setTimeout(() => {
      incoming.write('ab');
      incoming.end('cd');
    }, 0);
    const duplex = Packer.Stream.create(inner);
    expect([duplex.remoteAddress, duplex.remotePort, duplex.remoteFamily]).toEqual(['1.2.3.4', 5, 'IPv4']);
    await new Promise<void>((resolve) => duplex.write('out', () => resolve()));
    expect(written).toEqual(['out']);
    const read: string[] = [];
    for await (const chunk of duplex) read.push(String(chunk));
    expect(read.join('')).toBe('abcd');
  });
});

describe('Transform.create', () => {
  it('packs each chunk like proxy-packer, filling the address in the same way', async () => {
    const run = async (transform: Transform, address: object): Promise<[string, object]> => {
      const out: Buffer[] = [];
      transform.on('data', (b: Buffer) => out.push(b));
      transform.write(Buffer.from('one'));
      transform.write(Buffer.from('two'));
      transform.end();
      await once(transform, 'end');
      return [Buffer.concat(out).toString('hex'), address];
    };
    const ours = { family: 'IPv4', address: '1.2.3.4', port: 5 };
    const theirs = { ...ours };
    const options = { service: 'https', serviceport: 443, name: 'example.com' };
    const [oursHex, oursAddress] = await run(Packer.Transform.create({ address: ours, ...options }), ours);
    const [theirHex, theirAddress] = await run(reference.Transform.create({ address: theirs, ...options }), theirs);
    expect(oursHex).toBe(theirHex);
    expect(oursAddress).toEqual(theirAddress);
    expect(oursAddress).toMatchObject(options);
  });

  it('reports a chunk it cannot pack as the stream\'s error', async () => {
    const transform = Packer.Transform.create({ address: { family: 'IPv4', address: 'a,b', port: 1 } });
    transform.write(Buffer.from('x'));
    const [error] = (await once(transform, 'error')) as [named.MproxyError];
    expect(error.code).toBe('E_INVALID_FIELD');
  });
});
