/**
 * A claimed port the relay cannot open (something else listens there) is said to the device
 * that holds it, which would otherwise report it served and wait for visitors in vain.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDevice, issueToken, type Device } from '../../src/index.js';
import { defer, freePort, memoryLogger, SECRET, startRelay, until } from '../support/index.js';

describe('a claimed port the relay cannot listen on', () => {
  it('is refused to the device that holds it with E_PORT_UNAVAILABLE, and the other port is served', async () => {
    const [taken, free] = [await freePort(), await freePort()];
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const relay = await startRelay({ tcpPorts: `${taken},${free}`, portHost: '127.0.0.1' });
    const log = memoryLogger();
    const device: Device = createDevice({
      relay: relay.tunnelUrl,
      token: await issueToken(SECRET, { ports: [taken, free] }),
      forwards: [`tcp:${taken}=127.0.0.1:1`, `tcp:${free}=127.0.0.1:2`],
      reconnect: false,
      logger: log,
    });
    defer(() => device.close());
    await device.online();
    await until(() => log.entries.some((entry) => entry.context['code'] === 'E_PORT_UNAVAILABLE'), 'the notice');
    const notices = log.entries.filter((entry) => entry.context['code'] === 'E_PORT_UNAVAILABLE');
    expect(notices).toEqual([
      {
        level: 'warn',
        context: { code: 'E_PORT_UNAVAILABLE' },
        message: `relay: the relay cannot listen on TCP port ${taken} (something else on the relay uses it): it gets no visitors`,
      },
    ]);
    await until(() => relay.ports.tcp.includes(free), `the relay listening on ${free}`);
    expect(relay.ports.tcp).not.toContain(taken);
  });
});
