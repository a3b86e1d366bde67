/**
 * The `hello` handshake. Right after the tunnel opens the relay sends
 * `[1, "hello", [1], ["add_token", "delete_token", "auth", "authn", "authz"]]` (the protocol
 * versions it speaks, the commands it knows) and the device answers `[-1, null]`. The older form
 * in the proxy-packer README, `[1, "hello", 254, [...]]`, gives the frame's version byte
 * (`255 - version`) instead of a list; both are accepted.
 */
import { EMPTY, Observable, catchError, concat, defer, ignoreElements, map, type ObservableInput } from 'rxjs';
import { toControlErrorBody, type ControlChannel, type ControlRequest } from './channel.js';
import { ControlError } from './errors.js';

/** The commands a relay announces in its `hello` (what the telebit relay sends). */
export const HELLO_COMMANDS = ['add_token', 'delete_token', 'auth', 'authn', 'authz'] as const;

/** The protocol versions mproxy speaks: M-PROXY v1. */
export const HELLO_VERSIONS = [1] as const;

/** What a `hello` says. */
export interface Hello {
  /** Protocol versions the relay speaks (the old form's version byte 254 gives `[1]`). */
  versions: number[];
  /** Commands the relay knows. */
  commands: string[];
}

/** The arguments of the relay's `hello`: `[[1], [...HELLO_COMMANDS]]`. Fresh arrays each call. */
export function helloArgs(): [versions: number[], commands: string[]] {
  return [[...HELLO_VERSIONS], [...HELLO_COMMANDS]];
}

/**
 * Reads the arguments of a `hello` request, in either form: `[[1], [...commands]]` or
 * `[254, [...commands]]`. Arguments after the second are ignored, for later extensions.
 * Returns (does not throw) a `ControlError` `E_BAD_COMMAND` for anything else.
 */
export function parseHello(args: readonly unknown[]): Hello | ControlError {
  const [rawVersions, rawCommands] = args;
  let versions: number[];
  if (typeof rawVersions === 'number') {
    // The old form: the version byte of the frame header, which proxy-packer writes as
    // `255 - version` (0xfe for v1).
    if (!Number.isInteger(rawVersions) || rawVersions < 0 || rawVersions > 255) {
      return bad(`the version byte is not 0-255: ${JSON.stringify(rawVersions)}`);
    }
    versions = [255 - rawVersions];
  } else if (
    Array.isArray(rawVersions) &&
    rawVersions.length > 0 &&
    rawVersions.every((version: unknown) => typeof version === 'number' && Number.isSafeInteger(version) && version >= 0)
  ) {
    versions = [...(rawVersions as number[])];
  } else {
    return bad(`the versions are neither a list of integers nor a version byte: ${JSON.stringify(rawVersions) ?? 'nothing'}`);
  }
  if (!Array.isArray(rawCommands) || !rawCommands.every((command: unknown) => typeof command === 'string')) {
    return bad(`the commands are not a list of strings: ${JSON.stringify(rawCommands) ?? 'nothing'}`);
  }
  return { versions, commands: [...(rawCommands as string[])] };
}

/** Options of {@link answerHello}. */
export interface AnswerHelloOptions {
  /**
   * Runs before the answer is sent, and the answer waits for it to finish (a Promise to
   * resolve, an Observable to complete). The telebit device sends `add_token` here when it
   * connected without a token. If it fails, the `hello` is answered with its error (its code
   * for an `MproxyError`, `E_INTERNAL` otherwise) and the returned Observable errors.
   */
  beforeAnswer?: (hello: Hello, request: ControlRequest) => ObservableInput<unknown> | void;
}

/**
 * Device side. While subscribed, answers the relay's `hello` requests with `[-id, null]`
 * (after `beforeAnswer`, if given) and emits each `hello` once its answer is sent. A `hello`
 * whose arguments are in neither form is answered `E_BAD_COMMAND`, and the Observable errors
 * with that `ControlError`. Completes when the channel closes; unsubscribing stops answering.
 *
 * ```ts
 * answerHello(channel, { beforeAnswer: () => firstValueFrom(channel.request('add_token', jwt)) })
 *   .subscribe(() => logger.info('online'));
 * ```
 */
export function answerHello(channel: ControlChannel, options: AnswerHelloOptions = {}): Observable<Hello> {
  return new Observable<Hello>((subscriber) => {
    const handling = channel.handle('hello', (args, request) => {
      const hello = parseHello(args);
      if (hello instanceof ControlError) {
        // Answered before the subscriber hears of it: erroring unsubscribes this handler.
        request.fail(toControlErrorBody(hello));
        subscriber.error(hello);
        return undefined;
      }
      return concat(
        defer(() => options.beforeAnswer?.(hello, request) ?? EMPTY).pipe(ignoreElements()),
        defer(() => {
          request.reply();
          subscriber.next(hello);
          return EMPTY;
        }),
      ).pipe(
        catchError((error: unknown) => {
          request.fail(toControlErrorBody(error));
          subscriber.error(error);
          return EMPTY;
        }),
      );
    });
    // The channel ends its handlers when it closes: that is the end of hellos too.
    handling.add(() => subscriber.complete());
    return handling;
  });
}

/**
 * Relay side: sends `[id, "hello", [1], [...HELLO_COMMANDS]]`. Emits once and completes when the
 * device answers; errors like `channel.request()` (`E_CONTROL_TIMEOUT` after the channel's
 * timeout, the device's error, `E_CONTROL_CLOSED`).
 */
export function sendHello(channel: ControlChannel): Observable<void> {
  return channel.request('hello', ...helloArgs()).pipe(map((): void => undefined));
}

function bad(reason: string): ControlError {
  return new ControlError('E_BAD_COMMAND', `malformed hello: ${reason}`, { command: 'hello' });
}
