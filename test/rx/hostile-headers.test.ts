import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTunnel, decodeErrorBody, encodeFrame } from '../../src/index.js';
import { scriptedTransport, text } from './helpers.js';

/** A data frame whose header is exactly `length` bytes (the name pads it). */
function dataFrameWithHeader(length: number, port: number): Uint8Array {
  const base = `IPv4,10.0.0.1,${port},1,,,`;
  const name = 'n'.repeat(length - base.length);
  const bytes = encodeFrame({ kind: 'data', family: 'IPv4', address: '10.0.0.1', port, name, data: text('x') });
  expect(bytes[1]).toBe(length);
  return bytes;
}

describe('createTunnel with headers near the 255-byte limit', () => {
  it('never throws when refusing data for an unknown id whose header leaves no room for an answer', () => {
    for (let length = 240; length <= 255; length++) {
      const incoming = new Subject<Uint8Array>();
      const { transport, written } = scriptedTransport(incoming);
      const tunnel = createTunnel(transport, { unknownData: 'reject' });
      expect(() => incoming.next(dataFrameWithHeader(length, 1000 + length))).not.toThrow();
      // The answer echoes only the id fields, short enough whatever the name was.
      expect(written.map((frame) => decodeErrorBody(frame.data).code)).toEqual(['E_NO_CONN']);
      expect(tunnel.clients.size).toBe(0);
      tunnel.destroy();
    }
  });

  it('drops, and lives on, a refusal that cannot be encoded for an address near the limit', () => {
    for (let length = 225; length <= 243; length++) {
      const incoming = new Subject<Uint8Array>();
      const { transport, written, state } = scriptedTransport(incoming);
      const tunnel = createTunnel(transport, { unknownData: 'reject' });
      incoming.next(encodeFrame({ kind: 'data', family: 'IPv4', address: 'a'.repeat(length), port: 1, data: text('x') }));
      // Up to 237 the answer fits; past it, it is dropped rather than failing the tunnel.
      expect(written.length, `address of ${length}`).toBe(length <= 237 ? 1 : 0);
      expect(state.open).toBe(true);
      expect(state.destroyedWith).toBeUndefined();
      tunnel.destroy();
    }
  });

  it('refuses to open a client whose replies could not be encoded, and serves the others', () => {
    const incoming = new Subject<Uint8Array>();
    const { transport, written } = scriptedTransport(incoming);
    const tunnel = createTunnel(transport);
    const opened: string[] = [];
    tunnel.clients$.subscribe((client) => {
      opened.push(client.id);
      // Writing back must never throw for an accepted client.
      expect(() => client.write(new Uint8Array(100))).not.toThrow();
      client.end();
    });
    incoming.next(dataFrameWithHeader(255, 4444));
    incoming.next(dataFrameWithHeader(60, 5555));
    expect(opened).toEqual(['IPv4,10.0.0.1,5555']);
    expect(written.filter((f) => f.kind === 'error').map((f) => decodeErrorBody(f.data).code)).toEqual(['E_HEADER_TOO_LONG']);
    tunnel.destroy();
  });
});

describe('a client failed by the remote while bytes wait unread', () => {
  it('delivers the bytes, then the error, then finishes and is forgotten', async () => {
    const { encodeErrorBody } = await import('../../src/index.js');
    const incoming = new Subject<Uint8Array>();
    const { transport } = scriptedTransport(incoming);
    const tunnel = createTunnel(transport);
    const meta = { family: 'IPv4', address: '10.0.0.9', port: 9999 };
    let client: import('../../src/index.js').Client | undefined;
    tunnel.clients$.subscribe((c) => (client = c));
    incoming.next(encodeFrame({ kind: 'data', ...meta, data: text('queued') }));
    incoming.next(encodeFrame({ kind: 'error', ...meta, data: encodeErrorBody({ message: 'boom', code: 'EBOOM' }) }));
    const seen: string[] = [];
    let closed: { error?: Error } | undefined;
    client?.closed$.subscribe((c) => (closed = c));
    expect(closed).toBeUndefined();
    client?.data$.subscribe({ next: (d) => seen.push(Buffer.from(d).toString()), error: (e: { code: string }) => seen.push(e.code) });
    expect(seen).toEqual(['queued', 'EBOOM']);
    expect(closed?.error).toMatchObject({ code: 'EBOOM' });
    expect(tunnel.clients.size).toBe(0);
    tunnel.destroy();
  });
});

describe('tunnel.open with long fields', () => {
  it('refuses, before sending anything, a client whose pause/resume/data frames would not fit', () => {
    const incoming = new Subject<Uint8Array>();
    const { transport, written } = scriptedTransport(incoming);
    const tunnel = createTunnel(transport);
    // A connection header of exactly 255 bytes: it encodes, but `resume` with no service is longer.
    const base = 'IPv4,10.0.0.1,1,0,connection,,,';
    const name = 'n'.repeat(255 - base.length);
    expect(() => tunnel.open({ family: 'IPv4', address: '10.0.0.1', port: 1, name })).toThrow(
      expect.objectContaining({ code: 'E_HEADER_TOO_LONG' }),
    );
    expect(() => tunnel.open({ family: 'IPv4', address: '10.0.0.1', port: 2, name: 'a,b' })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_FIELD' }),
    );
    expect(written).toEqual([]);
    expect(tunnel.clients.size).toBe(0);
    tunnel.destroy();
  });
});
