/**
 * connectSocket against a tunnel stand-in whose congestion the test sets: which sockets pause
 * when, and that nothing reaches a client the remote paused.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { FrameInit } from '../../src/codec/frame.js';
import { Client, type ClientHost } from '../../src/rx/client.js';
import { connectSocket } from '../../src/rx/connect-socket.js';
import { resolveTunnelOptions } from '../../src/rx/options.js';
import { A, B, ID_A, ID_B } from './helpers.js';

class Host implements ClientHost {
  readonly options = resolveTunnelOptions();
  readonly sent: FrameInit[] = [];
  readonly clients: Client[] = [];
  #congested = false;
  isCongested(): boolean {
    return this.#congested;
  }
  send(frame: FrameInit): void {
    this.sent.push(frame);
  }
  adjustQueued(): number {
    return 0;
  }
  release(): void {}
  /** Flips the congestion and tells every client, as the tunnel does. */
  congest(congested: boolean): void {
    this.#congested = congested;
    for (const client of this.clients) client.writableChanged();
  }
  open(meta: typeof A | typeof B, id: string): Client {
    const client = new Client(this, { ...meta }, id);
    this.clients.push(client);
    return client;
  }
  dataOf(id: string): string {
    return this.sent
      .filter((frame) => frame.kind === 'data' && `${frame.family},${frame.address},${frame.port}` === id)
      .map((frame) => Buffer.from(frame.data ?? []).toString())
      .join('');
  }
}

/** A socket stand-in: what the test pushes is what it "reads". */
function socket(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** Lets the stream's nextTick-scheduled flow run. */
const ticks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('connectSocket', () => {
  it('pauses a busy socket at once when the tunnel congests, and a quiet one only once it reads', async () => {
    const host = new Host();
    const busy = socket();
    const quiet = socket();
    connectSocket(host.open(A, ID_A), busy);
    connectSocket(host.open(B, ID_B), quiet);
    busy.push('first');
    await ticks();
    expect(host.dataOf(ID_A)).toBe('first');

    host.congest(true);
    expect(busy.isPaused()).toBe(true);
    expect(quiet.isPaused()).toBe(false);
    busy.push('held');
    quiet.push('one read');
    await ticks();
    // The quiet socket's read goes out (the tunnel takes it past its high watermark), then it
    // pauses; the busy one sent nothing more.
    expect(host.dataOf(ID_B)).toBe('one read');
    expect(quiet.isPaused()).toBe(true);
    expect(host.dataOf(ID_A)).toBe('first');

    host.congest(false);
    await ticks();
    expect(host.dataOf(ID_A)).toBe('firstheld');
    expect(busy.isPaused()).toBe(false);
    expect(quiet.isPaused()).toBe(false);
  });

  it('sends nothing to a client the remote paused, even from a socket left flowing in a congestion', async () => {
    const host = new Host();
    const stream = socket();
    const client = host.open(A, ID_A);
    connectSocket(client, stream);
    host.congest(true);
    expect(stream.isPaused()).toBe(false);
    // Writability was false already: the watcher hears nothing of this pause.
    client.receive('pause', new Uint8Array(0));
    stream.push('not yet');
    await ticks();
    expect(host.dataOf(ID_A)).toBe('');
    expect(stream.isPaused()).toBe(true);

    host.congest(false);
    await ticks();
    expect(host.dataOf(ID_A)).toBe('');
    client.receive('resume', new Uint8Array(0));
    await ticks();
    expect(host.dataOf(ID_A)).toBe('not yet');
  });

  it('sends a chunk held back for a remote pause before the end that followed it', async () => {
    const host = new Host();
    const stream = socket();
    const client = host.open(A, ID_A);
    connectSocket(client, stream);
    host.congest(true);
    client.receive('pause', new Uint8Array(0));
    stream.push('abc');
    stream.push(null);
    await ticks();
    expect(host.sent.map((frame) => frame.kind)).toEqual([]);
    host.congest(false);
    client.receive('resume', new Uint8Array(0));
    await ticks();
    await ticks();
    expect(host.sent.map((frame) => frame.kind)).toEqual(['data', 'end']);
    expect(host.dataOf(ID_A)).toBe('abc');
  });

  it('resumes a paused socket when its client finishes cleanly, so that it reads its end and closes', async () => {
    const host = new Host();
    const stream = socket();
    const client = host.open(A, ID_A);
    connectSocket(client, stream);
    client.receive('pause', new Uint8Array(0));
    stream.push('late');
    stream.push(null);
    let ended = false;
    stream.on('end', () => (ended = true));
    await ticks();
    expect(stream.isPaused()).toBe(true);
    client.destroy();
    await ticks();
    expect(ended).toBe(true);
    // What the socket read after the client finished went nowhere.
    expect(host.dataOf(ID_A)).toBe('');
  });

  it('lets a paused socket read its end when joined to a client that already finished', async () => {
    const host = new Host();
    const stream = socket();
    stream.pause();
    const client = host.open(A, ID_A);
    client.destroy();
    connectSocket(client, stream);
    stream.push(null);
    let ended = false;
    stream.on('end', () => (ended = true));
    await ticks();
    expect(ended).toBe(true);
  });
});
