import { EMPTY, Observable, Subject, firstValueFrom, map, of, throwError } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, MproxyError } from '../../src/codec/errors.js';
import { ControlError, NO_ANSWER, createControlChannel, type ControlChannel, type ControlRequest } from '../../src/control/index.js';
import { testScheduler } from '../rx/helpers.js';

/** A port whose input is the test's marble, and whose sends are a stream (JSON round-tripped). */
function fakePort(control$: Observable<unknown>) {
  const sent$ = new Subject<unknown>();
  const port = { control$, sendControl: (message: unknown) => sent$.next(JSON.parse(JSON.stringify(message)) as unknown) };
  return { port, sent$: sent$.asObservable() };
}

/** Runs `fn` at virtual time `frame` (calls made straight in run() would precede the expectations). */
const at = (scheduler: TestScheduler, frame: number, fn: () => void): void => {
  scheduler.schedule(fn, frame);
};

const controlError = (code: string, extra: Record<string, unknown> = {}) =>
  expect.objectContaining({ name: 'ControlError', code, ...extra });

/** Two channels back to back over synchronous Subjects, as on an in-memory tunnel. */
function loopback(): { a: ControlChannel; b: ControlChannel; toB: Subject<unknown>; toA: Subject<unknown> } {
  const toA = new Subject<unknown>();
  const toB = new Subject<unknown>();
  const a = createControlChannel({ control$: toA, sendControl: (m) => toB.next(JSON.parse(JSON.stringify(m)) as unknown) });
  const b = createControlChannel({ control$: toB, sendControl: (m) => toA.next(JSON.parse(JSON.stringify(m)) as unknown) });
  return { a, b, toA, toB };
}

describe('createControlChannel: request()', () => {
  it('should send [id, command, ...args] with increasing ids and match answers by id, in any order', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const control$ = hot('-----b--a--|', { a: [-1, null, 'one'], b: [-2, null, { two: 2 }] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('                    -x-y-------', { x: [1, 'first'], y: [2, 'second', 'arg', [3]] });
      expectObservable(channel.request('first'), '      -^').toBe('--------(a|)', { a: 'one' });
      expectObservable(channel.request('second', 'arg', [3]), '---^').toBe('-----(b|)', { b: { two: 2 } });
      expectSubscriptions(control$.subscriptions).toBe('^----------!');
    });
  });

  it('should emit undefined when the answer has no result, and null when it is null', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('--a-b', { a: [-1, null], b: [-2, null, null] });
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('x')).toBe('--(u|)', { u: undefined });
      expectObservable(channel.request('y')).toBe('----(n|)', { n: null });
    });
  });

  it("should error with a remote ControlError carrying the remote's message and code", () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('---e', { e: [-1, { message: 'bad token', code: 'E_TOKEN_INVALID' }] });
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('add_token', 'jwt')).toBe(
        '---#',
        undefined,
        controlError('E_TOKEN_INVALID', { message: 'bad token', remote: true, command: 'add_token' }),
      );
    });
  });

  it("should fill in the telebit relay's empty error object with E_UNKNOWN_ERR", () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('---e', { e: [-1, {}] });
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('add_token', 'jwt')).toBe('---#', undefined, controlError('E_UNKNOWN_ERR', { message: '{}', remote: true }));
    });
  });

  it('should error with E_CONTROL_TIMEOUT after the timeout option, then ignore a late answer', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, expectObservable }) => {
      const control$ = hot('1100ms a', { a: [-1, null, 'late'] });
      const channel = createControlChannel(fakePort(control$).port, { timeout: 1000, scheduler });
      expectObservable(channel.request('slow')).toBe('1000ms #', undefined, controlError('E_CONTROL_TIMEOUT', { remote: false, command: 'slow' }));
      expectObservable(channel.malformed$).toBe('');
    });
  });

  it('should time out after 10 s by default', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-');
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('hello')).toBe('10s #', undefined, controlError('E_CONTROL_TIMEOUT'));
    });
  });

  it('should wait forever with timeout: Infinity', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-');
      const channel = createControlChannel(fakePort(control$).port, { timeout: Infinity });
      expectObservable(channel.request('hello')).toBe('-');
    });
  });

  it('should forget the id when unsubscribed early: the late answer is ignored, the next request gets a new id', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const control$ = hot('-----a--b---|', { a: [-1, null, 'late'], b: [-2, null, 'second'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port, { timeout: 4, scheduler });
      expectObservable(sent$).toBe('               x------y', { x: [1, 'first'], y: [2, 'second'] });
      // Unsubscribed at 3, before both the answer (5) and the timeout (4): neither is seen.
      expectObservable(channel.request('first'), '^--!').toBe('---');
      expectObservable(channel.request('second'), '-------^').toBe('--------(s|)', { s: 'second' });
      expectObservable(channel.malformed$).toBe('------------|');
      expectSubscriptions(control$.subscriptions).toBe('^-----------!');
    });
  });

  it('should send nothing and keep no id when the command is empty', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const { port, sent$ } = fakePort(hot('-'));
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('-');
      expectObservable(channel.request('')).toBe('#', undefined, controlError('E_BAD_COMMAND'));
    });
  });

  it('should fail a request with E_BAD_RESPONSE when its answer is garbled', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('--g', { g: [-1, '[Error] bad hello'] });
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('hello')).toBe('--#', undefined, controlError('E_BAD_RESPONSE', { command: 'hello' }));
      expectObservable(channel.malformed$.pipe()).toBe('--m', { m: expect.objectContaining({ kind: 'malformed', answers: 1 }) });
    });
  });

  it('should settle a request answered synchronously inside sendControl (in-memory ports)', async () => {
    const { a, b } = loopback();
    b.handle('echo', (args) => args);
    await expect(firstValueFrom(a.request('echo', 1, 'two'))).resolves.toEqual([1, 'two']);
  });

  it('should reject a bad timeout option', () => {
    const control$ = new Subject<unknown>();
    for (const timeout of [0, -1, Number.NaN, 2 ** 31]) {
      expect(() => createControlChannel({ control$, sendControl: () => undefined }, { timeout })).toThrow(InvalidOptionError);
    }
    expect(control$.observed).toBe(false);
  });
});

describe('createControlChannel: push()', () => {
  it('should send a request whose missing answer is not a failure, and ignore an answer if one comes', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, expectObservable }) => {
      const control$ = hot('------a--b 20s |', { a: [-1, { message: 'no', code: 'E_NOPE' }], b: [-3, null] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port, { scheduler });
      const grants = [['ssh+https', 'a.example.com', 443], ['https', 'a.example.com']];
      at(scheduler, 1, () => channel.push('grant', grants));
      at(scheduler, 2, () => channel.push('access_token', { jwt: 'x.y.z' }));
      expectObservable(sent$).toBe('  -gtr', { g: [1, 'grant', grants], t: [2, 'access_token', { jwt: 'x.y.z' }], r: [3, 'later'] });
      expectObservable(channel.request('later'), '---^').toBe('---------(u|)', { u: undefined });
      expectObservable(channel.notices$).toBe('          ---------- 20s |');
      expectObservable(channel.malformed$).toBe('        ---------- 20s |');
    });
  });
});

describe('createControlChannel: handle()', () => {
  it("should answer [-id, null, result] with the handler's result, and [-id, error] with its MproxyError", () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-', { a: [7, 'sum', 1, 2], b: [8, 'sum', 'x'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('sum', (args) => {
        if (!args.every((n): n is number => typeof n === 'number')) throw new ControlError('E_BAD_COMMAND', 'numbers only');
        return args.reduce((sum, n) => sum + n, 0);
      });
      expectObservable(sent$).toBe('-x-y', { x: [-7, null, 3], y: [-8, { message: 'numbers only', code: 'E_BAD_COMMAND' }] });
    });
  });

  it('should answer with the first value of an Observable, when it comes, and cancel the rest', () => {
    testScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const control$ = hot('-a----', { a: [4, 'slow'] });
      const work = cold('  --rs|', { r: 'ready', s: 'more' });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('slow', () => work);
      expectObservable(sent$).toBe('---x', { x: [-4, null, 'ready'] });
      expectSubscriptions(work.subscriptions).toBe('-^-!');
    });
  });

  it('should answer [-id, null] for undefined or an empty Observable, and keep arrays as results', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-c', { a: [1, 'none'], b: [2, 'empty'], c: [3, 'list'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('none', () => undefined);
      channel.handle('empty', () => EMPTY);
      channel.handle('list', () => ['add_token', 'delete_token']);
      expectObservable(sent$).toBe('-a-b-c', { a: [-1, null], b: [-2, null], c: [-3, null, ['add_token', 'delete_token']] });
    });
  });

  it('should answer E_INTERNAL for an error that is not an MproxyError, thrown or emitted', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-c', { a: [1, 'throws'], b: [2, 'errors'], c: [3, 'coded'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('throws', () => {
        throw new TypeError('oops');
      });
      channel.handle('errors', () => throwError(() => 'a string'));
      channel.handle('coded', () => throwError(() => new MproxyError('E_TOKEN_EXPIRED', 'expired')));
      expectObservable(sent$).toBe('-a-b-c', {
        a: [-1, { message: 'oops', code: 'E_INTERNAL' }],
        b: [-2, { message: 'a string', code: 'E_INTERNAL' }],
        c: [-3, { message: 'expired', code: 'E_TOKEN_EXPIRED' }],
      });
    });
  });

  it('should answer a request once when the handler replies itself', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a', { a: [1, 'self'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('self', (_args, request) => {
        request.reply('mine');
        request.fail({ message: 'ignored', code: 'E_X' });
        return of('ignored too');
      });
      expectObservable(sent$).toBe('-a', { a: [-1, null, 'mine'] });
    });
  });

  it('should fail a request whose result JSON cannot hold with E_INTERNAL', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a', { a: [1, 'big'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('big', () => 10n);
      expectObservable(sent$).toBe('-a', { a: [-1, expect.objectContaining({ code: 'E_INTERNAL' })] });
    });
  });

  it('should answer with a Promise result', async () => {
    const { a, b } = loopback();
    b.handle('later', async (args) => `got ${String(args[0])}`);
    await expect(firstValueFrom(a.request('later', 5))).resolves.toBe('got 5');
  });

  it('should refuse a second handler for a command with E_HANDLER_EXISTS, and allow one after unsubscribe', () => {
    const channel = createControlChannel({ control$: new Subject<unknown>(), sendControl: () => undefined });
    const first = channel.handle('x', () => 1);
    expect(() => channel.handle('x', () => 2)).toThrow(expect.objectContaining({ code: 'E_HANDLER_EXISTS' }));
    first.unsubscribe();
    expect(() => channel.handle('x', () => 2)).not.toThrow();
  });

  it('should stop answering, and cancel work in flight, once unsubscribed', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const control$ = hot('-a---b', { a: [1, 'work'], b: [2, 'work'] });
      const work = cold('  ----r|');
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      const handling = channel.handle('work', () => work);
      at(scheduler, 3, () => handling.unsubscribe());
      expectObservable(sent$).toBe('-----u', { u: [-2, { message: 'unknown command "work"', code: 'E_UNKNOWN_COMMAND' }] });
      expectSubscriptions(work.subscriptions).toBe('-^-!');
    });
  });
});

describe('createControlChannel: pushes left unanswered', () => {
  it('should send nothing for a request whose handler returns NO_ANSWER', () => {
    const seen: unknown[] = [];
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-c', { a: [2, 'grant', [['https', 'a.example']]], b: [3, 'access_token', {}], c: [4, 'grant', []] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('grant', (args) => {
        seen.push(args[0]);
        return NO_ANSWER;
      });
      channel.handle('access_token', () => NO_ANSWER);
      expectObservable(sent$).toBe('------');
      expectObservable(channel.requests$).toBe('------');
    });
    expect(seen).toEqual([[['https', 'a.example']], []]);
  });
});

describe('createControlChannel: requests$ and unknown commands', () => {
  it('should answer a command nobody handles with E_UNKNOWN_COMMAND', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a', { a: [9, 'auth', 'x'] });
      const { port, sent$ } = fakePort(control$);
      createControlChannel(port);
      expectObservable(sent$).toBe('-u', { u: [-9, { message: 'unknown command "auth"', code: 'E_UNKNOWN_COMMAND' }] });
    });
  });

  it('should emit unhandled requests on requests$, whose subscriber may answer as they come', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b', { a: [1, 'ping', 'p'], b: [2, 'other'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('other', () => 'handled');
      channel.requests$.subscribe((request) => {
        if (request.command === 'ping') request.reply(['pong', ...request.args]);
      });
      expectObservable(sent$).toBe('-a-b', { a: [-1, null, ['pong', 'p']], b: [-2, null, 'handled'] });
      expectObservable(channel.requests$.pipe(map((request) => `${request.id}:${request.command}`))).toBe('-p', { p: '1:ping' });
    });
  });

  it('should leave unhandled requests to requests$ with answerUnknown: false, to be answered later', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b', { a: [1, 'grant', []], b: [2, 'auth'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port, { answerUnknown: false });
      channel.requests$.subscribe((request) => {
        if (request.command === 'auth') at(scheduler, 2, () => request.fail({ message: 'no auth here', code: 'E_NOPE' }));
      });
      // `grant` is never answered, as the telebit device does.
      expectObservable(sent$).toBe('-----f', { f: [-2, { message: 'no auth here', code: 'E_NOPE' }] });
    });
  });

  it('should answer nothing for an unhandled command with answerUnknown: false and nobody watching', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const { port, sent$ } = fakePort(hot('-a', { a: [1, 'grant', []] }));
      createControlChannel(port, { answerUnknown: false });
      expectObservable(sent$).toBe('--');
    });
  });
});

describe('createControlChannel: malformed messages', () => {
  it('should answer E_BAD_COMMAND to a broken request with a usable id, and report it', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-c', { a: [5], b: [6, 42], c: [7, ''] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      const bad = (id: number) => [-id, expect.objectContaining({ code: 'E_BAD_COMMAND' })];
      expectObservable(sent$).toBe('-a-b-c', { a: bad(5), b: bad(6), c: bad(7) });
      expectObservable(channel.malformed$).toBe('-a-b-c', {
        a: expect.objectContaining({ kind: 'malformed', replyTo: 5 }),
        b: expect.objectContaining({ replyTo: 6, value: [6, 42] }),
        c: expect.objectContaining({ replyTo: 7 }),
      });
    });
  });

  it('should report unusable messages on malformed$ and send nothing', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const values = { a: 'text', b: { id: 1 }, c: [], d: [1.5, 'x'], e: ['1', 'hello'], f: [0, 'oob'], g: null };
      const { port, sent$ } = fakePort(hot('-abcdefg', values));
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('--------');
      const report = (value: unknown) => expect.objectContaining({ kind: 'malformed', value, reason: expect.any(String) });
      expectObservable(channel.malformed$).toBe('-abcdefg', {
        a: report('text'),
        b: report({ id: 1 }),
        c: report([]),
        d: report([1.5, 'x']),
        e: report(['1', 'hello']),
        f: report([0, 'oob']),
        g: report(null),
      });
    });
  });
});

describe('createControlChannel: notices', () => {
  it('should emit [0, error] on notices$, filling in a missing code', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-a-b-|', { a: [0, { message: 'token expired', code: 'E_TOKEN_EXPIRED' }], b: [0, {}] });
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.notices$).toBe('-a-b-|', {
        a: { message: 'token expired', code: 'E_TOKEN_EXPIRED' },
        b: { message: '{}', code: 'E_UNKNOWN_ERR' },
      });
    });
  });

  it('should send [0, {message, code}] with sendNotice(), keeping only those two fields', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, expectObservable }) => {
      const { port, sent$ } = fakePort(hot('-'));
      const channel = createControlChannel(port);
      at(scheduler, 1, () => channel.sendNotice(new MproxyError('E_SHUTTING_DOWN', 'relay going down')));
      expectObservable(sent$).toBe('-n', { n: [0, { message: 'relay going down', code: 'E_SHUTTING_DOWN' }] });
    });
  });
});

describe('createControlChannel: closing', () => {
  it('should error pending requests with E_CONTROL_CLOSED and complete its streams when control$ completes', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('---|');
      const channel = createControlChannel(fakePort(control$).port);
      expectObservable(channel.request('hello')).toBe('---#', undefined, controlError('E_CONTROL_CLOSED', { command: 'hello' }));
      expectObservable(channel.requests$).toBe('---|');
      expectObservable(channel.notices$).toBe('---|');
      expectObservable(channel.malformed$).toBe('---|');
    });
  });

  it('should give the error of control$ as the cause', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const reset = new Error('socket reset');
      const channel = createControlChannel(fakePort(hot('--#', undefined, reset)).port);
      expectObservable(channel.request('hello')).toBe('--#', undefined, controlError('E_CONTROL_CLOSED', { cause: reset }));
      expectObservable(channel.notices$).toBe('--|');
    });
  });

  it('should stop listening and cancel handlers in flight on close()', () => {
    const scheduler = testScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const control$ = hot('-a----b', { a: [1, 'work'], b: [2, 'work'] });
      const work = cold('  -----r|');
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      channel.handle('work', () => work);
      at(scheduler, 3, () => channel.close());
      expectObservable(sent$).toBe('-------');
      expectObservable(channel.request('x'), '----^').toBe('----#', undefined, controlError('E_CONTROL_CLOSED'));
      expectSubscriptions(work.subscriptions).toBe('-^-!');
      expectSubscriptions(control$.subscriptions).toBe('^--!');
    });
  });

  it('should refuse requests, and drop pushes, notices and answers, once closed', () => {
    const control$ = new Subject<unknown>();
    const sent: unknown[] = [];
    const channel = createControlChannel({ control$, sendControl: (m) => sent.push(m) }, { answerUnknown: false });
    let late: ControlRequest | undefined;
    channel.requests$.subscribe((request) => (late = request));
    control$.next([1, 'later']);
    control$.complete();
    expect(channel.closed).toBe(true);
    let failure: unknown;
    channel.request('hello').subscribe({ error: (error: unknown) => (failure = error) });
    expect(failure).toBeInstanceOf(ControlError);
    expect(failure).toMatchObject({ code: 'E_CONTROL_CLOSED' });
    channel.push('grant', []);
    channel.sendNotice({ message: 'x', code: 'E_X' });
    late?.reply('too late');
    expect(late?.answered).toBe(false);
    expect(sent).toEqual([]);
    expect(channel.handle('x', () => 1).closed).toBe(true);
  });

  it('should close at once over a control$ that has already ended', () => {
    const channel = createControlChannel({ control$: EMPTY, sendControl: () => undefined });
    expect(channel.closed).toBe(true);
  });
});
