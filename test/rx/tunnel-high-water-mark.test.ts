/**
 * `tunnelHighWaterMark`: a tunnel stops reading its transport while its clients hold more than
 * it, so a remote that sends past `pause` (or hears it late) fills its own queue, not ours.
 * Memory transports: their writer's queue is what a socket's kernel buffers are.
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/codec/encode.js';
import { createTunnel, memoryPair, type Client, type Transport, type TunnelOptions } from '../../src/index.js';
import { A } from './helpers.js';

const KiB = 1024;
const FRAME = 4 * KiB;
const FRAMES = 64;

/** Lets every pending memory delivery run (each is one setImmediate turn). */
async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A remote that opens client A and sends FRAMES data frames of FRAME bytes, pausing for nothing. */
function flood(remote: Transport): void {
  remote.incoming$.subscribe({ error: () => {} });
  remote.write(encodeFrame({ kind: 'connection', ...A }));
  for (let i = 0; i < FRAMES; i++) remote.write(encodeFrame({ kind: 'data', ...A, data: Buffer.alloc(FRAME, i) }));
}

async function floodedTunnel(options: TunnelOptions) {
  const [near, far] = memoryPair();
  const tunnel = createTunnel(near, { highWaterMark: 8 * KiB, lowWaterMark: 2 * KiB, ...options });
  const clients: Client[] = [];
  tunnel.clients$.subscribe((client) => clients.push(client));
  flood(far);
  await settle();
  return { tunnel, near, far, clients };
}

describe('tunnelHighWaterMark', () => {
  it('should stop reading past it, leave the rest with the remote, and deliver it all in order once consumed', async () => {
    const { tunnel, far, clients } = await floodedTunnel({ tunnelHighWaterMark: 16 * KiB });
    const [client] = clients;
    // Held: the mark, plus the one delivery that crossed it.
    expect(tunnel.stats.bufferedIn).toBeGreaterThan(16 * KiB);
    expect(tunnel.stats.bufferedIn).toBeLessThanOrEqual(16 * KiB + FRAME);
    expect(far.bufferedAmount).toBeGreaterThanOrEqual(FRAMES * FRAME - 16 * KiB - FRAME);

    const chunks: Uint8Array[] = [];
    client!.data$.subscribe((chunk) => chunks.push(chunk));
    await settle(FRAMES * 2);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(FRAMES * FRAME);
    for (let i = 0; i < FRAMES; i++) expect(all[i * FRAME]).toBe(i);
    expect(far.bufferedAmount).toBe(0);
    tunnel.close();
  });

  it('should read everything a remote sends when it is not set', async () => {
    const { tunnel, far } = await floodedTunnel({});
    expect(tunnel.stats.bufferedIn).toBe(FRAMES * FRAME);
    expect(far.bufferedAmount).toBe(0);
    tunnel.close();
  });

  it('should read what is left and close when its transport is destroyed while reading is stopped', async () => {
    const { tunnel, near, clients } = await floodedTunnel({ tunnelHighWaterMark: 16 * KiB });
    const closed = firstValueFrom(tunnel.closed$);
    // The carrier fails from below, as a keepalive timeout or a reset does.
    near.destroy(new Error('gone'));
    expect((await closed).error?.message).toBe('gone');
    // Its client hands over what it held, then fails.
    let held = 0;
    const failure = await new Promise((resolve) => clients[0]!.data$.subscribe({ next: (chunk) => (held += chunk.length), error: resolve }));
    expect(failure).toMatchObject({ code: 'E_TUNNEL_CLOSED' });
    expect(held).toBeGreaterThan(16 * KiB);
  });

  it('should refuse a negative or fractional mark', () => {
    const [near] = memoryPair();
    expect(() => createTunnel(near, { tunnelHighWaterMark: -1 })).toThrow(/tunnelHighWaterMark/);
    expect(() => createTunnel(near, { tunnelHighWaterMark: 1.5 })).toThrow(/tunnelHighWaterMark/);
  });
});
