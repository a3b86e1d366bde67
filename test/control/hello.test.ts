import { Observable, Subject, firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { MproxyError } from '../../src/codec/errors.js';
import {
  ControlError,
  HELLO_COMMANDS,
  answerHello,
  createControlChannel,
  helloArgs,
  parseHello,
  sendHello,
} from '../../src/control/index.js';
import { testScheduler } from '../rx/helpers.js';

function fakePort(control$: Observable<unknown>) {
  const sent$ = new Subject<unknown>();
  const port = { control$, sendControl: (message: unknown) => sent$.next(JSON.parse(JSON.stringify(message)) as unknown) };
  return { port, sent$: sent$.asObservable() };
}

const COMMANDS = ['add_token', 'delete_token', 'auth', 'authn', 'authz'];
const controlError = (code: string, extra: Record<string, unknown> = {}) =>
  expect.objectContaining({ name: 'ControlError', code, ...extra });

describe('helloArgs / parseHello', () => {
  it('should give the arguments the telebit relay sends', () => {
    expect(helloArgs()).toEqual([[1], COMMANDS]);
    expect(HELLO_COMMANDS).toEqual(COMMANDS);
    // Fresh arrays: a caller mutating them changes nothing for the next caller.
    (helloArgs()[1] as string[]).push('x');
    expect(helloArgs()[1]).toEqual(COMMANDS);
  });

  it('should read the current form, a list of versions', () => {
    expect(parseHello([[1], COMMANDS])).toEqual({ versions: [1], commands: COMMANDS });
    expect(parseHello([[2, 1], []])).toEqual({ versions: [2, 1], commands: [] });
  });

  it('should read the old form, the version byte 254 (255 - 1) standing for v1', () => {
    expect(parseHello([254, ['add_token', 'delete_token']])).toEqual({ versions: [1], commands: ['add_token', 'delete_token'] });
  });

  it('should ignore arguments after the second', () => {
    expect(parseHello([[1], ['add_token'], { future: true }])).toEqual({ versions: [1], commands: ['add_token'] });
  });

  it.each([
    ['no arguments', []],
    ['no commands', [[1]]],
    ['commands that are not strings', [[1], [1, 2]]],
    ['an empty version list', [[], COMMANDS]],
    ['a version that is not an integer', [[1.5], COMMANDS]],
    ['a version byte out of range', [256, COMMANDS]],
    ['a version given as a string', ['1', COMMANDS]],
  ])('should return E_BAD_COMMAND for %s', (_name, args) => {
    const hello = parseHello(args);
    expect(hello).toBeInstanceOf(ControlError);
    expect(hello).toMatchObject({ code: 'E_BAD_COMMAND', command: 'hello' });
  });
});

describe('answerHello (device side)', () => {
  it("should answer the relay's hello with [-1, null] and emit it", () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-h--|', { h: [1, 'hello', [1], COMMANDS] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('                 -a', { a: [-1, null] });
      expectObservable(answerHello(channel)).toBe('-h--|', { h: { versions: [1], commands: COMMANDS } });
    });
  });

  it('should answer the old form too', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-h', { h: [1, 'hello', 254, ['add_token', 'delete_token']] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('               -a', { a: [-1, null] });
      expectObservable(answerHello(channel)).toBe('-h', { h: { versions: [1], commands: ['add_token', 'delete_token'] } });
    });
  });

  it('should send add_token before answering when beforeAnswer waits for it (ids are per direction)', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      // The relay's hello has id 1, and so has the device's own first request.
      const control$ = hot('-h---a', { h: [1, 'hello', [1], COMMANDS], a: [-1, null] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      const hello$ = answerHello(channel, { beforeAnswer: () => channel.request('add_token', 'jwt') });
      expectObservable(sent$).toBe('-t---r', { t: [1, 'add_token', 'jwt'], r: [-1, null] });
      expectObservable(hello$).toBe('-----h', { h: { versions: [1], commands: COMMANDS } });
      expectSubscriptions(control$.subscriptions).toBe('^');
    });
  });

  it('should answer the hello with the error of beforeAnswer, and error', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-h---a', { h: [1, 'hello', [1], COMMANDS], a: [-1, { message: 'bad token', code: 'E_TOKEN_INVALID' }] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      const hello$ = answerHello(channel, { beforeAnswer: () => channel.request('add_token', 'jwt') });
      expectObservable(sent$).toBe('-t---r', {
        t: [1, 'add_token', 'jwt'],
        r: [-1, { message: 'bad token', code: 'E_TOKEN_INVALID' }],
      });
      expectObservable(hello$).toBe('-----#', undefined, controlError('E_TOKEN_INVALID', { remote: true }));
    });
  });

  it('should answer a malformed hello with E_BAD_COMMAND, and error', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('-h', { h: [1, 'hello', 'v1'] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('-a', { a: [-1, expect.objectContaining({ code: 'E_BAD_COMMAND' })] });
      expectObservable(answerHello(channel)).toBe('-#', undefined, controlError('E_BAD_COMMAND'));
    });
  });

  it('should stop answering once unsubscribed', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('---h', { h: [1, 'hello', [1], COMMANDS] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('                       ---u', { u: [-1, expect.objectContaining({ code: 'E_UNKNOWN_COMMAND' })] });
      expectObservable(answerHello(channel), '^-!').toBe('--');
    });
  });

  it('should wait for a Promise hook', async () => {
    const control$ = new Subject<unknown>();
    const sent: unknown[] = [];
    const channel = createControlChannel({ control$, sendControl: (m) => sent.push(m) });
    let release = (): void => undefined;
    const hook = new Promise<void>((resolve) => (release = resolve));
    const hello = firstValueFrom(answerHello(channel, { beforeAnswer: () => hook }));
    control$.next([1, 'hello', [1], COMMANDS]);
    await Promise.resolve();
    expect(sent).toEqual([]);
    release();
    await expect(hello).resolves.toEqual({ versions: [1], commands: COMMANDS });
    expect(sent).toEqual([[-1, null]]);
  });

  it('should answer E_INTERNAL when a hook throws something that is not an MproxyError', async () => {
    const control$ = new Subject<unknown>();
    const sent: unknown[] = [];
    const channel = createControlChannel({ control$, sendControl: (m) => sent.push(m) });
    const hello = firstValueFrom(
      answerHello(channel, {
        beforeAnswer: () => {
          throw new RangeError('disk full');
        },
      }),
    );
    control$.next([1, 'hello', [1], COMMANDS]);
    await expect(hello).rejects.toThrow('disk full');
    expect(sent).toEqual([[-1, { message: 'disk full', code: 'E_INTERNAL' }]]);
  });

  it('should complete when the channel closes', () => {
    const control$ = new Subject<unknown>();
    const channel = createControlChannel({ control$, sendControl: () => undefined });
    let completed = false;
    answerHello(channel).subscribe({ complete: () => (completed = true) });
    control$.complete();
    expect(completed).toBe(true);
  });
});

describe('sendHello (relay side)', () => {
  it('should send the hello with [1] and the commands, and emit once the device answers', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const control$ = hot('---a', { a: [-1, null] });
      const { port, sent$ } = fakePort(control$);
      const channel = createControlChannel(port);
      expectObservable(sent$).toBe('         h', { h: [1, 'hello', [1], COMMANDS] });
      expectObservable(sendHello(channel)).toBe('---(v|)', { v: undefined });
    });
  });

  it('should fail with E_CONTROL_TIMEOUT when the device does not answer in 10 s', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const channel = createControlChannel(fakePort(hot('-')).port);
      expectObservable(sendHello(channel)).toBe('10s #', undefined, controlError('E_CONTROL_TIMEOUT', { command: 'hello' }));
    });
  });

  it('should complete the handshake between two channels back to back, add_token first', async () => {
    const toRelay = new Subject<unknown>();
    const toDevice = new Subject<unknown>();
    const relay = createControlChannel({ control$: toRelay, sendControl: (m) => toDevice.next(JSON.parse(JSON.stringify(m)) as unknown) });
    const device = createControlChannel({ control$: toDevice, sendControl: (m) => toRelay.next(JSON.parse(JSON.stringify(m)) as unknown) });
    const tokens: unknown[] = [];
    relay.handle('add_token', ([jwt]) => {
      if (jwt !== 'good') throw new MproxyError('E_TOKEN_INVALID', 'bad token');
      tokens.push(jwt);
      return of(null);
    });
    const online = firstValueFrom(answerHello(device, { beforeAnswer: () => device.request('add_token', 'good') }));
    await firstValueFrom(sendHello(relay));
    expect(tokens).toEqual(['good']);
    await expect(online).resolves.toEqual({ versions: [1], commands: COMMANDS });
  });
});
