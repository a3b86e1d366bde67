import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTunnel, memoryPair, type Client } from '../../src/index.js';
import { A, internal, testScheduler } from './helpers.js';

describe('stats', () => {
  it('counts bytes each way, buffered and paused, from the counters a client keeps', async () => {
    const [left, right] = memoryPair();
    const a = createTunnel(left);
    const b = createTunnel(right);
    const accepted = new Promise<Client>((resolve) => b.clients$.subscribe(resolve));
    const client = a.open(A);
    client.write(Buffer.alloc(1000));
    const remote = await accepted;
    // Held in the remote client until read: buffered there.
    await new Promise((resolve) => setImmediate(resolve));
    expect(remote.stats).toMatchObject({ bytesIn: 1000, bytesOut: 0, bufferedIn: 1000, paused: false });
    const statsOfA = lastValueFrom(client.stats$.pipe(toArray()));
    remote.data$.subscribe();
    remote.write(Buffer.alloc(300));
    internal(client).receive('pause', new Uint8Array(0));
    expect(client.stats.paused).toBe(true);
    // Time paused counts while the pause lasts, and stops at the resume.
    const pausedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const waited = performance.now() - pausedAt;
    expect(client.stats.pausedMs).toBeGreaterThanOrEqual(waited);
    internal(client).receive('resume', new Uint8Array(0));
    expect(client.stats.paused).toBe(false);
    const pausedMs = client.stats.pausedMs;
    expect(pausedMs).toBeGreaterThanOrEqual(waited);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(client.stats.pausedMs).toBe(pausedMs);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.stats).toMatchObject({ clients: 1, bytesIn: 300, bytesOut: 1000, pausedClients: 0 });
    client.destroy();
    const samples = await statsOfA;
    // One sample at subscription, one at the close: then it completes.
    expect(samples[0]).toMatchObject({ bytesOut: 1000 });
    expect(samples.at(-1)).toMatchObject({ bytesIn: 300, bytesOut: 1000 });
    // A closed client's bytes stay in its tunnel's totals.
    expect(a.stats).toMatchObject({ clients: 0, bytesIn: 300, bytesOut: 1000 });
    a.close();
    b.close();
  });

  it('samples tunnel.stats$ every second while observed, and once more at the close', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const [left] = memoryPair();
      const tunnel = createTunnel(left);
      cold('3500ms x').subscribe(() => tunnel.close());
      expectObservable(tunnel.stats$.pipe(toArray()), '^ 4000ms !').toBe('3500ms (x|)', {
        x: [0, 1, 2, 3, 4].map(() => expect.objectContaining({ clients: 0, bytesIn: 0 })),
      });
    });
  });
});
