import { describe, expect, it } from 'vitest';
import { AuthError, GrantRegistry, issueToken, verifyToken, type ExpiredGrant, type Grant } from '../../src/auth/index.js';

const T0 = new Date('2025-01-01T00:00:00Z');

/** A registry on a clock the test moves by hand. */
function setup() {
  let now = T0.getTime();
  const expired: ExpiredGrant[] = [];
  const registry = new GrantRegistry({ now: () => new Date(now), onExpire: (event) => expired.push(event) });
  return { registry, expired, advance: (ms: number) => (now += ms) };
}

let serial = 0;
/** A grant as verifyToken returns it; each has its own token string unless one is given. */
function grant(claims: { domains?: string[]; ports?: number[]; subject?: string; expiresAt?: Date; token?: string }): Grant {
  return {
    ...(claims.subject === undefined ? {} : { subject: claims.subject }),
    domains: claims.domains ?? [],
    ports: claims.ports ?? [],
    ...(claims.expiresAt === undefined ? {} : { expiresAt: claims.expiresAt }),
    token: claims.token ?? `token-${++serial}`,
  };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
  throw new Error('expected a throw');
}

describe('GrantRegistry: add and lookup', () => {
  it('gives a session the names and ports of its grant, and reports what is new', () => {
    const { registry } = setup();
    const g = grant({ domains: ['a.example.com', '*.example.com'], ports: [5050] });
    expect(registry.add('s1', g)).toEqual({ names: ['a.example.com', '*.example.com'], ports: [5050] });
    expect(registry.sessionsFor('a.example.com')).toEqual(['s1']);
    expect(registry.sessionsFor('b.example.com')).toEqual(['s1']);
    expect(registry.sessionsFor('other.com')).toEqual([]);
    expect(registry.sessionsForPort(5050)).toEqual(['s1']);
    expect(registry.sessionsForPort(5051)).toEqual([]);
    expect(registry.grantsOf('s1')).toEqual([g]);
    expect(registry.grantsOf('nobody')).toEqual([]);
  });

  it('reports only what the session did not already hold, and ignores a token it already holds', () => {
    const { registry } = setup();
    const first = grant({ domains: ['a.example.com'], ports: [22], subject: 'alice' });
    registry.add('s1', first);
    expect(registry.add('s1', grant({ domains: ['a.example.com', 'b.example.com'], ports: [22, 23], subject: 'alice' }))).toEqual({
      names: ['b.example.com'],
      ports: [23],
    });
    expect(registry.add('s1', first)).toEqual({ names: [], ports: [] });
    expect(registry.grantsOf('s1')).toHaveLength(2);
  });

  it('normalises names given in a hand-made grant and looks them up in any case', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['App.Example.COM.'] }));
    expect(registry.sessionsFor('APP.example.com')).toEqual(['s1']);
  });

  it('routes to exact holders first, else to the longest matching wildcard, never a mix', () => {
    const { registry } = setup();
    registry.add('wide', grant({ domains: ['*.example.com'] }));
    registry.add('narrow', grant({ domains: ['*.b.example.com'] }));
    registry.add('exact', grant({ domains: ['a.b.example.com'] }));
    expect(registry.sessionsFor('a.b.example.com')).toEqual(['exact']);
    expect(registry.sessionsFor('c.b.example.com')).toEqual(['narrow']);
    expect(registry.sessionsFor('x.y.b.example.com')).toEqual(['narrow']);
    expect(registry.sessionsFor('b.example.com')).toEqual(['wide']);
    expect(registry.sessionsFor('example.com')).toEqual([]);
    registry.removeSession('exact');
    expect(registry.sessionsFor('a.b.example.com')).toEqual(['narrow']);
  });

  it('works with real tokens from verifyToken', async () => {
    const { registry } = setup();
    const token = await issueToken('s3cret', { domains: ['app.localhost'], ports: [5050] }, { now: T0, expiresIn: '1h' });
    registry.add('s1', await verifyToken(token, 's3cret', { now: T0 }));
    expect(registry.sessionsFor('app.localhost')).toEqual(['s1']);
    expect(registry.remove('s1', token)).toEqual({ grants: 1, names: ['app.localhost'], ports: [5050] });
  });
});

describe('GrantRegistry: conflicts and sharing', () => {
  it('refuses a name or port held by another session under a different subject, and adds nothing', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], ports: [22], subject: 'alice' }));
    expect(codeOf(() => registry.add('s2', grant({ domains: ['b.example.com', 'a.example.com'], subject: 'bob' })))).toBe('E_NAME_TAKEN');
    expect(codeOf(() => registry.add('s2', grant({ domains: ['b.example.com'], ports: [23, 22], subject: 'bob' })))).toBe('E_PORT_TAKEN');
    // all or nothing: b.example.com and 23 were not taken by the refused grants
    expect(registry.sessionsFor('b.example.com')).toEqual([]);
    expect(registry.sessionsForPort(23)).toEqual([]);
    expect(registry.grantsOf('s2')).toEqual([]);
  });

  it('lets sessions with the same subject share, in the order they took the name', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], ports: [22], subject: 'alice' }));
    registry.add('s2', grant({ domains: ['a.example.com'], ports: [22], subject: 'alice' }));
    registry.add('s0', grant({ domains: ['a.example.com'], subject: 'alice' }));
    expect(registry.sessionsFor('a.example.com')).toEqual(['s1', 's2', 's0']);
    expect(registry.sessionsForPort(22)).toEqual(['s1', 's2']);
  });

  it('lets subject-less grants share only when the token is the same (a telebit device reconnecting)', () => {
    const { registry } = setup();
    registry.add('old', grant({ domains: ['a.example.com'], token: 'telebit-token' }));
    registry.add('new', grant({ domains: ['a.example.com'], token: 'telebit-token' }));
    expect(registry.sessionsFor('a.example.com')).toEqual(['old', 'new']);
    expect(codeOf(() => registry.add('stranger', grant({ domains: ['a.example.com'], token: 'another-telebit-token' })))).toBe('E_NAME_TAKEN');
  });

  it('does not let a subject-less grant share with a subject, nor the reverse', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'] }));
    expect(codeOf(() => registry.add('s2', grant({ domains: ['a.example.com'], subject: 'alice' })))).toBe('E_NAME_TAKEN');
    registry.add('s3', grant({ domains: ['b.example.com'], subject: 'alice' }));
    expect(codeOf(() => registry.add('s4', grant({ domains: ['b.example.com'] })))).toBe('E_NAME_TAKEN');
  });

  it('only conflicts on identical names: an exact name under a wildcard held by someone else is free', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['*.example.com'], subject: 'alice' }));
    registry.add('s2', grant({ domains: ['app.example.com'], subject: 'bob' }));
    expect(registry.sessionsFor('app.example.com')).toEqual(['s2']);
    expect(registry.sessionsFor('www.example.com')).toEqual(['s1']);
  });

  it('never conflicts within one session', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], subject: 'alice' }));
    expect(registry.add('s1', grant({ domains: ['a.example.com'], subject: 'bob' }))).toEqual({ names: [], ports: [] });
    // …but the name is now held under both owners, so neither can share it from elsewhere
    expect(codeOf(() => registry.add('s2', grant({ domains: ['a.example.com'], subject: 'alice' })))).toBe('E_NAME_TAKEN');
  });

  it('frees a name for another owner once its holder is gone', () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], subject: 'alice' }));
    registry.removeSession('s1');
    expect(registry.add('s2', grant({ domains: ['a.example.com'], subject: 'bob' }))).toEqual({ names: ['a.example.com'], ports: [] });
  });
});

describe('GrantRegistry: removal', () => {
  it('removes one token and keeps what another grant of the session still covers', () => {
    const { registry } = setup();
    const a = grant({ domains: ['a.example.com', 'shared.example.com'], ports: [22] });
    const b = grant({ domains: ['shared.example.com', 'b.example.com'], ports: [22, 23] });
    registry.add('s1', a);
    registry.add('s1', b);
    expect(registry.remove('s1', a.token)).toEqual({ grants: 1, names: ['a.example.com'], ports: [] });
    expect(registry.sessionsFor('shared.example.com')).toEqual(['s1']);
    expect(registry.sessionsFor('a.example.com')).toEqual([]);
    expect(registry.sessionsForPort(22)).toEqual(['s1']);
    expect(registry.grantsOf('s1')).toEqual([b]);
  });

  it('removes nothing for a token the session does not hold, or an unknown session', () => {
    const { registry } = setup();
    const a = grant({ domains: ['a.example.com'] });
    registry.add('s1', a);
    expect(registry.remove('s1', 'not-held')).toEqual({ grants: 0, names: [], ports: [] });
    expect(registry.remove('s2', a.token)).toEqual({ grants: 0, names: [], ports: [] });
    expect(registry.sessionsFor('a.example.com')).toEqual(['s1']);
  });

  it("removes every grant with '*', and removeSession does the same", () => {
    const { registry } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], ports: [22] }));
    registry.add('s1', grant({ domains: ['b.example.com'] }));
    registry.add('s2', grant({ domains: ['c.example.com'], ports: [23] }));
    expect(registry.remove('s1', '*')).toEqual({ grants: 2, names: ['a.example.com', 'b.example.com'], ports: [22] });
    expect(registry.grantsOf('s1')).toEqual([]);
    expect(registry.removeSession('s2')).toEqual({ grants: 1, names: ['c.example.com'], ports: [23] });
    expect(registry.sessionsFor('c.example.com')).toEqual([]);
    expect(registry.sessionsForPort(23)).toEqual([]);
  });

  it('keeps the other sharers of a name when one leaves, and appends a returning one at the end', () => {
    const { registry } = setup();
    for (const id of ['s1', 's2', 's3']) registry.add(id, grant({ domains: ['a.example.com'], subject: 'alice' }));
    registry.removeSession('s1');
    expect(registry.sessionsFor('a.example.com')).toEqual(['s2', 's3']);
    registry.add('s1', grant({ domains: ['a.example.com'], subject: 'alice' }));
    expect(registry.sessionsFor('a.example.com')).toEqual(['s2', 's3', 's1']);
  });
});

describe('GrantRegistry: expiry', () => {
  it('ignores and evicts a grant from the moment it expires, and reports it once', () => {
    const { registry, expired, advance } = setup();
    const g = grant({ domains: ['a.example.com'], ports: [22], expiresAt: new Date(T0.getTime() + 60_000) });
    registry.add('s1', g);
    registry.add('s1', grant({ domains: ['b.example.com'] }));
    expect(registry.nextExpiryAt()).toEqual(g.expiresAt);
    advance(59_999);
    expect(registry.sessionsFor('a.example.com')).toEqual(['s1']);
    expect(expired).toEqual([]);
    advance(1);
    expect(registry.sessionsFor('a.example.com')).toEqual([]);
    expect(registry.sessionsForPort(22)).toEqual([]);
    expect(registry.sessionsFor('b.example.com')).toEqual(['s1']);
    expect(expired).toEqual([{ sessionId: 's1', grant: g, grants: 1, names: ['a.example.com'], ports: [22] }]);
    expect(registry.grantsOf('s1')).toHaveLength(1);
    expect(registry.evictExpired()).toEqual([]);
    expect(expired).toHaveLength(1);
    expect(registry.nextExpiryAt()).toBeUndefined();
  });

  it('lets an expired holder block no one', () => {
    const { registry, advance } = setup();
    registry.add('s1', grant({ domains: ['a.example.com'], subject: 'alice', expiresAt: new Date(T0.getTime() + 1000) }));
    advance(1000);
    expect(registry.add('s2', grant({ domains: ['a.example.com'], subject: 'bob' }))).toEqual({ names: ['a.example.com'], ports: [] });
  });

  it('refuses a grant that has already expired by its clock', () => {
    const { registry } = setup();
    expect(codeOf(() => registry.add('s1', grant({ ports: [22], expiresAt: T0 })))).toBe('E_TOKEN_EXPIRED');
    expect(registry.sessionsForPort(22)).toEqual([]);
  });

  it('evicts on demand, earliest expiry next, and the callback sees a consistent registry', () => {
    let now = T0.getTime();
    const seen: string[][] = [];
    const registry: GrantRegistry = new GrantRegistry({
      now: () => new Date(now),
      onExpire: () => seen.push(registry.sessionsFor('a.example.com')),
    });
    registry.add('s1', grant({ domains: ['a.example.com'], expiresAt: new Date(T0.getTime() + 2000) }));
    registry.add('s2', grant({ domains: ['b.example.com'], expiresAt: new Date(T0.getTime() + 1000) }));
    expect(registry.nextExpiryAt()).toEqual(new Date(T0.getTime() + 1000));
    now += 1000;
    expect(registry.evictExpired().map((e) => e.sessionId)).toEqual(['s2']);
    expect(registry.nextExpiryAt()).toEqual(new Date(T0.getTime() + 2000));
    now += 1000;
    expect(registry.evictExpired().map((e) => e.sessionId)).toEqual(['s1']);
    expect(seen).toEqual([['s1'], []]);
  });
});
