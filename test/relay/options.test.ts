import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { parseListen } from '../../src/relay/options.js';
import { createRelay } from '../../src/relay/relay.js';

const SECRET = 'options-test-secret-of-32-bytes-or-more';
const fallback = Object.freeze({ host: '127.0.0.1', port: 8443 });

describe('parseListen', () => {
  it.each([
    ['0.0.0.0:443', { host: '0.0.0.0', port: 443 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:65535', { host: '::', port: 65535 }],
    ['9000', { host: '127.0.0.1', port: 9000 }],
    ['0', { host: '127.0.0.1', port: 0 }],
    [':80', { host: '127.0.0.1', port: 80 }],
    ['example.com:0080', { host: 'example.com', port: 80 }],
  ])('reads %j', (text, address) => {
    expect(parseListen(text, fallback, 'listen')).toEqual(address);
  });

  it('takes an address object as is, and the fallback when there is none', () => {
    expect(parseListen({ host: '::1', port: 0 }, fallback, 'listen')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(undefined, fallback, 'listen')).toBe(fallback);
  });

  it.each([
    ['127.0.0.1:65536', /tunnel port 65536 is not 0-65535/],
    ['99999', /tunnel port 99999 is not 0-65535/],
    ['[::1]:70000', /tunnel port 70000 is not 0-65535/],
    ['127.0.0.1:http', /tunnel "127.0.0.1:http" must be host:port/],
    ['127.0.0.1', /tunnel "127.0.0.1" must be host:port/],
    ['127.0.0.1:', /tunnel "127.0.0.1:" must be host:port/],
    ['::1:80', /tunnel "::1:80" must be host:port/],
    ['[::1]', /tunnel "\[::1\]" must be host:port/],
    ['', /tunnel "" must be host:port/],
  ])('refuses %j with E_INVALID_OPTION naming the option', (text, message) => {
    expect(() => parseListen(text, fallback, 'tunnel')).toThrow(InvalidOptionError);
    expect(() => parseListen(text, fallback, 'tunnel')).toThrow(message);
  });

  it.each([{ host: 'h', port: -1 }, { host: 'h', port: 1.5 }, { host: 'h', port: 65536 }])('refuses the address object %j', (address) => {
    expect(() => parseListen(address, fallback, 'listen')).toThrow(/listen port .* is not 0-65535/);
  });
});

describe('createRelay options', () => {
  it.each([
    [{ sniffMaxBytes: 0 }, /sniffMaxBytes must be a positive integer, got 0/],
    [{ sniffMaxBytes: 1.5 }, /sniffMaxBytes must be a positive integer/],
    [{ sniffTimeout: -1 }, /sniffTimeout must be a positive number of milliseconds/],
    [{ sniffTimeout: Number.NaN }, /sniffTimeout must be/],
    [{ tokenGrace: 0 }, /tokenGrace must be/],
    [{ udpIdleTimeout: 2 ** 31 }, /udpIdleTimeout must be/],
    [{ keepalive: { interval: 0 } }, /keepalive.interval must be/],
    [{ keepalive: { timeout: Infinity } }, /keepalive.timeout must be/],
    [{ tunnelOptions: { highWaterMark: -1 } }, /highWaterMark must be/],
  ])('refuses %j before listening', async (bad, message) => {
    const relay = createRelay({ secret: SECRET, listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', ...bad });
    await expect(relay).rejects.toThrow(InvalidOptionError);
    await expect(relay).rejects.toThrow(message);
  });

  it('takes null for keepalive (the defaults), as before', async () => {
    const relay = await createRelay({ secret: SECRET, listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', keepalive: null as unknown as undefined });
    await relay.close();
  });

  it('takes the same options when they are sound', async () => {
    const relay = await createRelay({
      secret: SECRET,
      listen: '127.0.0.1:0',
      tunnel: '127.0.0.1:0',
      sniffMaxBytes: 1024,
      sniffTimeout: 1000,
      tokenGrace: 1000,
      udpIdleTimeout: 1000,
      keepalive: { interval: 1000, timeout: 500 },
      tunnelOptions: { highWaterMark: 256 * 1024 },
    });
    await relay.close();
  });

  it('refuses a secret under 32 bytes with E_WEAK_SECRET, unless allowWeakSecret', async () => {
    const weak = 'x'.repeat(31);
    await expect(createRelay({ secret: weak, listen: '127.0.0.1:0', tunnel: '127.0.0.1:0' })).rejects.toMatchObject({
      code: 'E_WEAK_SECRET',
      message: expect.stringMatching(/31 bytes.*at least 32.*mproxy secret/),
    });
    await expect(createRelay({ secret: new Uint8Array(16), listen: '127.0.0.1:0', tunnel: '127.0.0.1:0' })).rejects.toMatchObject({
      code: 'E_WEAK_SECRET',
    });
    // 32 bytes of UTF-8, fewer characters: bytes count, not characters.
    const relay = await createRelay({ secret: 'é'.repeat(16), listen: '127.0.0.1:0', tunnel: '127.0.0.1:0' });
    await relay.close();
    const allowed = await createRelay({ secret: weak, allowWeakSecret: true, listen: '127.0.0.1:0', tunnel: '127.0.0.1:0' });
    await allowed.close();
  });

  it('listens on every address of a listen list, and refuses an empty list', async () => {
    const relay = await createRelay({ secret: SECRET, listen: ['127.0.0.1:0', '127.0.0.1:0'], tunnel: '127.0.0.1:0' });
    try {
      expect(relay.addresses.visitors).toHaveLength(2);
      expect(relay.addresses.public).toBe(relay.addresses.visitors[0]);
      expect(relay.addresses.visitors[0]?.port).not.toBe(relay.addresses.visitors[1]?.port);
      // A taken address fails with a ListenError naming the option and the address.
      const taken = `127.0.0.1:${relay.addresses.visitors[1]?.port}`;
      await expect(createRelay({ secret: SECRET, listen: ['127.0.0.1:0', taken], tunnel: '127.0.0.1:0' })).rejects.toMatchObject({
        name: 'ListenError',
        code: 'EADDRINUSE',
        option: 'listen',
        address: taken,
        message: `listen ${taken}: address already in use`,
      });
    } finally {
      await relay.close();
    }
    await expect(createRelay({ secret: SECRET, listen: [], tunnel: '127.0.0.1:0' })).rejects.toThrow(InvalidOptionError);
  });
});
