/**
 * Soak: 10,000 visitors opened and closed in churn (200 at a time) through relay → device →
 * local TCP echo, on a port the device claimed (no sniffing: the cheapest real path). Each
 * visitor sends 0 B – 64 KiB and checks the sha256 of what came back. Afterwards nothing is
 * left behind: no client on either side of the tunnel, no socket, no timer, and the heap
 * after a full GC is where it was.
 */
import { describe, expect, it } from 'vitest';
import { issueToken } from '../../src/index.js';
import {
  KiB,
  MiB,
  SECRET,
  SEED,
  Tape,
  between,
  collectGarbage,
  echoServer,
  echoVisit,
  freePort,
  memory,
  pool,
  prng,
  report,
  resources,
  sha256,
  startDevice,
  startRelay,
  until,
} from './helpers.js';


const VISITORS = Number(process.env['SOAK_VISITORS'] ?? 10_000);
const CONCURRENCY = 200;
const MAX_SIZE = 64 * KiB;

describe('soak', () => {
  it(`serves ${VISITORS} churning visitors (${CONCURRENCY} at a time, 0–64 KiB each) intact and leaks nothing`, { timeout: 90_000 }, async () => {
    const port = await freePort();
    const relay = await startRelay({ tcpPorts: String(port) });
    const echo = await echoServer();
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${echo.port}`] });
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);
    const tunnel = device.tunnel;
    if (!tunnel) throw new Error('the device is not online');

    const tape = new Tape(4 * MiB);
    const random = prng(SEED);
    const failures: string[] = [];
    let bytes = 0;
    const visit = async (i: number): Promise<void> => {
      const data = tape.slice(between(random, 0, tape.bytes.length), between(random, 0, MAX_SIZE));
      try {
        const back = await echoVisit(port, data);
        bytes += data.length;
        if (back.length !== data.length || back.hash !== sha256(data)) {
          failures.push(`visitor ${i}: ${data.length} bytes sent, ${back.length} back, hash ${back.hash === sha256(data) ? 'same' : 'different'}`);
        }
      } catch (error) {
        failures.push(`visitor ${i}: ${(error as Error).message}`);
      }
    };
    /** Both sides of the tunnel hold no client and the process holds no more than `base`. */
    const settled = async (base: Record<string, number>, what: string): Promise<void> => {
      await until(() => tunnel.clients.size === 0 && relay.clientCount === 0, `no client left ${what}`);
      await until(() => {
        const now = resources();
        return (now['TCPSocketWrap'] ?? 0) <= (base['TCPSocketWrap'] ?? 0) && (now['Timeout'] ?? 0) <= (base['Timeout'] ?? 0);
      }, `sockets and timers back to ${JSON.stringify(base)} ${what} (now ${JSON.stringify(resources())})`);
    };

    // Warm-up: lazily made pools, JIT, the first autotuned buffers; then the baseline.
    await pool(CONCURRENCY, CONCURRENCY, visit);
    expect(failures).toEqual([]);
    await until(() => tunnel.clients.size === 0 && relay.clientCount === 0, 'no client left after the warm-up');
    // Left: the tunnel's two ends (the device's WebSocket and the relay's).
    await until(() => (resources()['TCPSocketWrap'] ?? 0) === 2, 'only the tunnel sockets left after the warm-up');
    const base = resources();
    collectGarbage();
    const heapBase = memory().heapUsed;

    const started = performance.now();
    const half = Math.floor(VISITORS / 2);
    await pool(half, CONCURRENCY, visit);
    await settled(base, 'after the first half');
    collectGarbage();
    const heapHalf = memory().heapUsed;
    await pool(VISITORS - half, CONCURRENCY, (i) => visit(half + i));
    const elapsed = (performance.now() - started) / 1000;
    expect(failures.slice(0, 10), `seed ${SEED}`).toEqual([]);
    await settled(base, 'after all');
    collectGarbage();
    const heapEnd = memory().heapUsed;

    // The tunnel is the one it was: never dropped, still online.
    expect(device.tunnel).toBe(tunnel);
    expect(device.state).toBe('online');
    expect(relay.deviceCount).toBe(1);
    const after = resources();
    expect(after['TCPSocketWrap'] ?? 0).toBe(base['TCPSocketWrap'] ?? 0);
    expect(after['TCPServerWrap'] ?? 0).toBe(base['TCPServerWrap'] ?? 0);
    expect(after['Timeout'] ?? 0).toBeLessThanOrEqual(base['Timeout'] ?? 0);
    // Retained heap: the second half (same work again) adds next to nothing.
    expect(heapEnd - heapHalf).toBeLessThan(8);
    expect(heapEnd - heapBase).toBeLessThan(16);

    report('soak', {
      seed: SEED,
      visitors: VISITORS,
      concurrency: CONCURRENCY,
      seconds: Number(elapsed.toFixed(2)),
      visitorsPerSecond: Math.round(VISITORS / elapsed),
      echoedMiB: Number((bytes / MiB).toFixed(1)),
      heapMiB: { base: heapBase.toFixed(1), half: heapHalf.toFixed(1), end: heapEnd.toFixed(1) },
      resources: { base, after },
    });
  });
});
