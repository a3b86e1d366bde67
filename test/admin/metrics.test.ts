import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createAdminServer, issueToken } from '../../src/index.js';
import { SECRET, defer, echoServer, freePort, startDevice, startRelay, until } from '../support/index.js';
import { call, scrape, valueOf } from './helpers.js';

const VISITORS = 10;
const HALF = 128 * 1024;

describe('live metrics', () => {
  it('counts bytes per name as they flow while 10 visitors stream, and match what was sent at the end', async () => {
    const port = await freePort('tcp');
    const relay = await startRelay({ tcpPorts: String(port), metrics: true });
    const admin = await createAdminServer({ listen: '127.0.0.1:0', relay });
    defer(() => admin.close());
    const echo = await echoServer();
    const token = await issueToken(SECRET, { ports: [port], sub: 'edge-1' });
    const device = await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${echo.port}`], metrics: true });
    const deviceAdmin = await createAdminServer({ listen: '127.0.0.1:0', device });
    defer(() => deviceAdmin.close());
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);
    const labels = { device: 'edge-1', name: `tcp:${port}` };

    const visitors = await Promise.all(
      Array.from({ length: VISITORS }, async () => {
        const socket = net.connect({ host: '127.0.0.1', port });
        defer(() => void socket.destroy());
        await once(socket, 'connect');
        let back = 0;
        socket.on('data', (chunk: Buffer) => (back += chunk.length));
        return { socket, back: () => back };
      }),
    );
    const before = await scrape(admin.url);
    // The first half, each visitor's bytes echoed back: the transfer is under way, not over.
    for (const { socket } of visitors) socket.write(randomBytes(HALF));
    await until(() => visitors.every((v) => v.back() === HALF), 'the first half echoed', 10_000);
    const during = await scrape(admin.url);
    const deviceDuring = await scrape(deviceAdmin.url);
    for (const { socket } of visitors) socket.end(randomBytes(HALF));
    await Promise.all(visitors.map(({ socket }) => once(socket, 'close')));
    await until(() => relay.clientCount === 0, 'the clients closed');
    const after = await scrape(admin.url);
    const deviceAfter = await scrape(deviceAdmin.url);

    const total = VISITORS * 2 * HALF;
    // Relay: out is visitors → device, in is device → visitors.
    expect(valueOf(before, 'mproxy_bytes_out_total', labels)).toBe(0);
    expect(valueOf(during, 'mproxy_bytes_out_total', labels)).toBe(VISITORS * HALF);
    expect(valueOf(during, 'mproxy_bytes_in_total', labels)).toBe(VISITORS * HALF);
    expect(valueOf(during, 'mproxy_clients_open', labels)).toBe(VISITORS);
    expect(valueOf(after, 'mproxy_bytes_out_total', labels)).toBe(total);
    expect(valueOf(after, 'mproxy_bytes_in_total', labels)).toBe(total);
    expect(valueOf(after, 'mproxy_clients_open', labels)).toBe(0);
    expect(valueOf(after, 'mproxy_clients_opened_total', labels)).toBe(VISITORS);
    expect(valueOf(after, 'mproxy_clients_closed_total', labels)).toBe(VISITORS);
    expect(valueOf(after, 'mproxy_devices_connected')).toBe(1);
    expect(valueOf(after, 'mproxy_device_connects_total')).toBe(1);
    expect(after.some((s) => s.name === 'mproxy_control_rtt_seconds' && s.labels['device'] === 'edge-1')).toBe(true);
    // Device: the same bytes, the other way round.
    expect(valueOf(deviceDuring, 'mproxy_bytes_in_total', labels)).toBe(VISITORS * HALF);
    expect(valueOf(deviceAfter, 'mproxy_bytes_in_total', labels)).toBe(total);
    expect(valueOf(deviceAfter, 'mproxy_bytes_out_total', labels)).toBe(total);
    expect(echo.received()).toBe(total);

    // The admin API lists the device; a visitor with no device behind its name is a refusal by reason.
    const devices = JSON.parse((await call(`${admin.url}/api/devices`)).body) as { id: string; label: string; ports: { tcp: number[] } }[];
    expect(devices).toMatchObject([{ label: 'edge-1', ports: { tcp: [port] } }]);
  });
});
