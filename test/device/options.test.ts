import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { createDevice, type DeviceOptions } from '../../src/device/device.js';

const base: DeviceOptions = { relay: 'ws://127.0.0.1:9/', token: 't', forwards: ['tcp:5050=22'], reconnect: false };

describe('createDevice options', () => {
  it.each([
    [{ connectTimeout: -1 }, /connectTimeout must be a positive number of milliseconds up to 2147483647, or 0 \(no timeout\)/],
    [{ udpIdleTimeout: Number.NaN }, /udpIdleTimeout must be/],
    [{ keepalive: { interval: -5 } }, /keepalive.interval must be/],
    [{ keepalive: { timeout: 2 ** 31 } }, /keepalive.timeout must be/],
    [{ reconnect: { initialDelay: Number.NaN } }, /reconnect.initialDelay must be/],
    [{ reconnect: { maxDelay: Infinity } }, /reconnect.maxDelay must be/],
    [{ reconnect: { factor: 0.5 } }, /reconnect.factor must be a number of at least 1/],
    [{ reconnect: { jitter: Number.NaN } }, /reconnect.jitter must be a number/],
    [{ tunnel: { maxFrameSize: 0 } }, /maxFrameSize/],
  ] as Array<[Partial<DeviceOptions>, RegExp]>)('refuses %j at once', (bad, message) => {
    expect(() => createDevice({ ...base, ...bad })).toThrow(InvalidOptionError);
    expect(() => createDevice({ ...base, ...bad })).toThrow(message);
  });

  it('takes 0 where it has a meaning, a jitter to clamp, and null for keepalive', async () => {
    const devices = [
      createDevice({ ...base, connectTimeout: 0 }),
      createDevice({ ...base, reconnect: { initialDelay: 0, jitter: 1.5 } }),
      createDevice({ ...base, keepalive: null as unknown as undefined }),
    ];
    for (const device of devices) await device.close();
  });

  it('takes sound ones', async () => {
    const device = createDevice({
      ...base,
      connectTimeout: 1000,
      udpIdleTimeout: 1000,
      keepalive: { interval: 1000, timeout: 500 },
      tunnel: { maxFrameSize: 1024 },
    });
    await device.close();
    expect(device.state).toBe('closed');
  });
});
