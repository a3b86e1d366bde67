import { createHmac } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { AuthError, issueToken, MAX_TOKEN_LENGTH, parseDuration, verifyToken } from '../../src/auth/index.js';

const SECRET = 'relay-secret';
const T0 = new Date('2025-01-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Builds a JWT by hand: any header, any payload, signed with HMAC `hash` (or not at all). */
function craft(header: object, payload: unknown, options: { hash?: 'sha256' | 'sha512'; secret?: string; signature?: string } = {}): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature =
    options.signature ?? createHmac(options.hash ?? 'sha256', options.secret ?? SECRET).update(input).digest('base64url');
  return `${input}.${signature}`;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
  throw new Error('expected a rejection');
}

describe('issueToken', () => {
  it('signs an HS256 JWT with normalised claims, iat and exp', async () => {
    const token = await issueToken(SECRET, { domains: ['App.Localhost.', 'app.localhost'], ports: [5050], sub: 'alice' }, { expiresIn: '24h', now: T0 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const iat = T0.getTime() / 1000;
    expect(decodeJwt(token)).toEqual({ domains: ['app.localhost'], ports: [5050], sub: 'alice', iat, exp: iat + 86_400 });
  });

  it('leaves exp out when no lifetime is given, and takes a number of seconds', async () => {
    expect(decodeJwt(await issueToken(SECRET, { ports: [22] }, { now: T0 }))).not.toHaveProperty('exp');
    const payload = decodeJwt(await issueToken(SECRET, { ports: [22] }, { now: T0, expiresIn: 90 }));
    expect(payload.exp).toBe(T0.getTime() / 1000 + 90);
  });

  it('round-trips through verifyToken', async () => {
    const token = await issueToken(SECRET, { domains: ['*.example.com', 'a.example.com'], ports: [5050, 6000], sub: 'dev1' }, { expiresIn: '30m', now: T0 });
    expect(await verifyToken(token, SECRET, { now: at(60) })).toEqual({
      subject: 'dev1',
      domains: ['*.example.com', 'a.example.com'],
      ports: [5050, 6000],
      expiresAt: at(1800),
      token,
    });
  });

  it('refuses claims that verifyToken would refuse', async () => {
    expect(await codeOf(issueToken(SECRET, {}))).toBe('E_TOKEN_CLAIMS');
    expect(await codeOf(issueToken(SECRET, { domains: [], ports: [] }))).toBe('E_TOKEN_CLAIMS');
    expect(await codeOf(issueToken(SECRET, { domains: ['bad_name.com'] }))).toBe('E_TOKEN_CLAIMS');
    expect(await codeOf(issueToken(SECRET, { ports: [0] }))).toBe('E_TOKEN_CLAIMS');
    expect(await codeOf(issueToken(SECRET, { ports: [65536] }))).toBe('E_TOKEN_CLAIMS');
    expect(await codeOf(issueToken(SECRET, { ports: [22], sub: '' }))).toBe('E_TOKEN_CLAIMS');
  });

  it('refuses an empty secret and a bad lifetime as invalid options', async () => {
    await expect(issueToken('', { ports: [22] })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(issueToken(new Uint8Array(0), { ports: [22] })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(issueToken(SECRET, { ports: [22] }, { expiresIn: '1 week' })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
    await expect(issueToken(SECRET, { ports: [22] }, { expiresIn: -5 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
    await expect(issueToken(SECRET, { ports: [22] }, { expiresIn: 1.5 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
    await expect(issueToken(SECRET, { ports: [22] }, { expiresIn: Number.MAX_SAFE_INTEGER })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
  });

  it('accepts the secret as bytes, the same as its UTF-8 string', async () => {
    const token = await issueToken(new TextEncoder().encode(SECRET), { ports: [22] }, { now: T0 });
    await expect(verifyToken(token, SECRET, { now: T0 })).resolves.toMatchObject({ ports: [22] });
  });
});

describe('verifyToken: refusals', () => {
  it('E_TOKEN_MISSING for no token, an empty or a blank one', async () => {
    for (const token of [undefined, '', '   ']) expect(await codeOf(verifyToken(token, SECRET))).toBe('E_TOKEN_MISSING');
  });

  it('E_TOKEN_MALFORMED for things that are not JWTs', async () => {
    const good = await issueToken(SECRET, { ports: [22] });
    const cases = [
      'not-a-token',
      'a.b',
      `${good}.extra`,
      'a b.c.d',
      `${b64url('not json')}.${b64url({ ports: [22] })}.sig`,
      `${b64url({ typ: 'JWT' })}.${b64url({ ports: [22] })}.sig`, // no alg
      `${b64url([1, 2])}.${b64url({ ports: [22] })}.sig`,
      `.${b64url({ ports: [22] })}.sig`,
      'x'.repeat(MAX_TOKEN_LENGTH + 1),
    ];
    for (const token of cases) expect(await codeOf(verifyToken(token, SECRET)), token.slice(0, 60)).toBe('E_TOKEN_MALFORMED');
  });

  it('E_TOKEN_MALFORMED for a correctly signed payload that is not a JSON object', async () => {
    expect(await codeOf(verifyToken(craft({ alg: 'HS256' }, 'not json'), SECRET))).toBe('E_TOKEN_MALFORMED');
    expect(await codeOf(verifyToken(craft({ alg: 'HS256' }, [1]), SECRET))).toBe('E_TOKEN_MALFORMED');
  });

  it('E_TOKEN_SIGNATURE for alg none with an empty signature, whatever the case of "none"', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const token = craft({ alg, typ: 'JWT' }, { domains: ['a.example.com'] }, { signature: '' });
      expect(await codeOf(verifyToken(token, SECRET))).toBe('E_TOKEN_SIGNATURE');
    }
  });

  it('E_TOKEN_SIGNATURE for HS256 with the signature left empty', async () => {
    expect(await codeOf(verifyToken(craft({ alg: 'HS256' }, { ports: [22] }, { signature: '' }), SECRET))).toBe('E_TOKEN_SIGNATURE');
  });

  it('E_TOKEN_SIGNATURE for HS512, even signed with the right secret', async () => {
    const crafted = craft({ alg: 'HS512', typ: 'JWT' }, { ports: [22] }, { hash: 'sha512' });
    expect(await codeOf(verifyToken(crafted, SECRET))).toBe('E_TOKEN_SIGNATURE');
    const signed = await new SignJWT({ ports: [22] }).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET));
    expect(await codeOf(verifyToken(signed, SECRET))).toBe('E_TOKEN_SIGNATURE');
  });

  it('E_TOKEN_SIGNATURE for a tampered payload and for the wrong secret', async () => {
    const token = await issueToken(SECRET, { domains: ['mine.example.com'] });
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64url({ domains: ['yours.example.com'] })}.${signature}`;
    expect(await codeOf(verifyToken(tampered, SECRET))).toBe('E_TOKEN_SIGNATURE');
    expect(await codeOf(verifyToken(token, 'other-secret'))).toBe('E_TOKEN_SIGNATURE');
    // The first character of the signature carries 6 whole bits: changing it changes the bytes.
    const cut = token.lastIndexOf('.') + 1;
    const flipped = token.slice(0, cut) + (token[cut] === 'A' ? 'B' : 'A') + token.slice(cut + 1);
    expect(await codeOf(verifyToken(flipped, SECRET))).toBe('E_TOKEN_SIGNATURE');
  });

  it('E_TOKEN_EXPIRED at exp and after it, valid one second before', async () => {
    const token = await issueToken(SECRET, { ports: [22] }, { expiresIn: '1h', now: T0 });
    await expect(verifyToken(token, SECRET, { now: at(3599) })).resolves.toMatchObject({ expiresAt: at(3600) });
    expect(await codeOf(verifyToken(token, SECRET, { now: at(3600) }))).toBe('E_TOKEN_EXPIRED');
    expect(await codeOf(verifyToken(token, SECRET, { now: at(86_400 * 365) }))).toBe('E_TOKEN_EXPIRED');
    await expect(verifyToken(token, SECRET, { now: at(3600) })).rejects.toThrow(`token expired at ${at(3600).toISOString()}`);
  });

  it('E_TOKEN_NOT_YET_VALID for a token whose nbf is still ahead, with the time', async () => {
    const token = craft({ alg: 'HS256' }, { ports: [22], nbf: T0.getTime() / 1000 + 10 });
    expect(await codeOf(verifyToken(token, SECRET, { now: T0 }))).toBe('E_TOKEN_NOT_YET_VALID');
    await expect(verifyToken(token, SECRET, { now: T0 })).rejects.toThrow(`token is not valid before ${at(10).toISOString()}`);
    await expect(verifyToken(token, SECRET, { now: at(10) })).resolves.toMatchObject({ ports: [22] });
  });

  it('checks the signature before the claims: a forged token with bad claims is a signature error', async () => {
    const token = craft({ alg: 'HS256' }, { ports: ['nope'] }, { secret: 'forger' });
    expect(await codeOf(verifyToken(token, SECRET))).toBe('E_TOKEN_SIGNATURE');
  });

  it('E_TOKEN_CLAIMS for claims of the wrong shape', async () => {
    const payloads: unknown[] = [
      {},
      { domains: [], ports: [] },
      { domains: 'a.example.com' },
      { ports: 22 },
      { domains: ['a.example.com', 7] },
      { domains: ['exa mple.com'] },
      { domains: ['*'] },
      { domains: ['a.*.example.com'] },
      { domains: ['-a.example.com'] },
      { domains: ['bücher.example'] },
      { ports: [0] },
      { ports: [65536] },
      { ports: [22.5] },
      { ports: ['22a'] },
      { ports: [''] },
      { ports: ['-1'] },
      { ports: ['123456'] },
      { ports: [true] },
      { ports: [22], sub: 42 },
      { ports: [22], sub: '' },
      { ports: [22], id: { name: 'x' } },
      { ports: [22], exp: '2030-01-01' },
      { ports: [22], exp: 1e300 },
    ];
    for (const payload of payloads) {
      expect(await codeOf(verifyToken(craft({ alg: 'HS256', typ: 'JWT' }, payload), SECRET, { now: T0 })), JSON.stringify(payload)).toBe(
        'E_TOKEN_CLAIMS',
      );
    }
  });

  it('refuses an empty secret as an invalid option, before looking at the token', async () => {
    await expect(verifyToken('a.b.c', '')).rejects.toBeInstanceOf(InvalidOptionError);
  });
});

describe('verifyToken: telebit tokens', () => {
  it('accepts a token without exp, iat or sub, with ports as numeric strings', async () => {
    const token = craft({ alg: 'HS256', typ: 'JWT' }, { domains: ['Device.Example.COM', '*.device.example.com'], ports: ['5050', 22, '22'] });
    expect(await verifyToken(token, SECRET)).toEqual({
      domains: ['device.example.com', '*.device.example.com'],
      ports: [5050, 22],
      token,
    });
  });

  it('accepts a token with ports only, or names only, and treats null claims as absent', async () => {
    await expect(verifyToken(craft({ alg: 'HS256' }, { ports: ['443'] }), SECRET)).resolves.toMatchObject({ domains: [], ports: [443] });
    await expect(verifyToken(craft({ alg: 'HS256' }, { domains: ['a.example.com'], ports: null }), SECRET)).resolves.toMatchObject({
      domains: ['a.example.com'],
      ports: [],
    });
  });

  it('takes the subject from sub, else id, else device', async () => {
    const subjectOf = async (claims: object) => (await verifyToken(craft({ alg: 'HS256' }, { ports: [22], ...claims }), SECRET)).subject;
    expect(await subjectOf({ sub: 's', id: 'i', device: 'd' })).toBe('s');
    expect(await subjectOf({ id: 'i', device: 'd' })).toBe('i');
    expect(await subjectOf({ device: 'd' })).toBe('d');
    expect(await subjectOf({})).toBeUndefined();
  });

  it('trims whitespace around the token and keeps the trimmed form', async () => {
    const token = craft({ alg: 'HS256' }, { ports: [22] });
    expect((await verifyToken(`  ${token}\n`, SECRET)).token).toBe(token);
  });

  it('ignores claims it does not know', async () => {
    const token = craft({ alg: 'HS256' }, { ports: [22], aud: 'x', iss: 'telebit', name: 'whatever', iat: 1 });
    await expect(verifyToken(token, SECRET)).resolves.toMatchObject({ ports: [22] });
  });
});

describe('parseDuration', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['30m', 1800],
    ['24h', 86_400],
    ['7d', 604_800],
    [' 2H ', 7200],
  ])('%j is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'h', '0', '0h', '-1h', '1.5h', '1w', '1 h', '1hh', 'h1', '24hours', '1e3', '99999999999999999999d'])(
    'refuses %j with E_INVALID_OPTION',
    (text) => {
      expect(() => parseDuration(text)).toThrow(InvalidOptionError);
    },
  );
});
