/**
 * The messages carried in the bodies of `control` frames (JSON arrays):
 *
 * - request `[id, command, ...args]`, `id > 0` chosen by the sender;
 * - response `[-id, error | null, result?]`, `error` being `{message, code}`;
 * - out-of-band notice `[0, error]`.
 *
 * Ids are per direction: a response answers a request that its receiver sent.
 */
import { errorBodyOf } from '../codec/error-body.js';
import { ControlError } from './errors.js';

/** The error of a response or notice, as it travels: `{message, code}`. */
export interface ControlErrorBody {
  readonly message: string;
  readonly code: string;
}

/** `[id, command, ...args]`: asks the receiver to run `command`. */
export interface ControlRequestMessage {
  readonly kind: 'request';
  /** Positive, chosen by the sender. */
  readonly id: number;
  /** Non-empty. */
  readonly command: string;
  readonly args: readonly unknown[];
}

/** `[-id, error | null, result?]`: answers the request `id` that the receiver sent. */
export interface ControlResponseMessage {
  readonly kind: 'response';
  /** The id of the request answered: positive (the wire carries `-id`). */
  readonly id: number;
  /** `null` on success. A remote error object missing a field is filled in (see the parser). */
  readonly error: ControlErrorBody | null;
  /** The third element; `undefined` when absent. */
  readonly result?: unknown;
}

/** `[0, error]`: an error tied to no request (the telebit relay sends `[0, {}]` on a bad token). */
export interface ControlNoticeMessage {
  readonly kind: 'notice';
  readonly error: ControlErrorBody;
}

/** A well-formed control message. */
export type ControlMessage = ControlRequestMessage | ControlResponseMessage | ControlNoticeMessage;

/** A value that is none of the three forms. */
export interface ControlParseFailure {
  readonly kind: 'malformed';
  /** Why it was rejected, for logs. */
  readonly reason: string;
  /** The value as received. */
  readonly value: unknown;
  /**
   * Set when the value is a broken request whose id is still usable (`[5]`, `[5, 42]`,
   * `[5, ""]`): the sender can be answered `[-5, {code: 'E_BAD_COMMAND'}]`.
   */
  readonly replyTo?: number;
  /**
   * Set when the value looks like a broken response (`[-5, "oops"]`): the id of our request it
   * was meant to answer.
   */
  readonly answers?: number;
}

/** The `JSON` shape of a request: `[id, command, ...args]`. */
export type ControlRequestWire = [id: number, command: string, ...args: unknown[]];
/** The `JSON` shape of a response: `[-id, error]` or `[-id, error, result]`. */
export type ControlResponseWire = [negatedId: number, error: ControlErrorBody | null, result?: unknown];
/** The `JSON` shape of a notice: `[0, error]`. */
export type ControlNoticeWire = [zero: 0, error: ControlErrorBody];

/**
 * Classifies a decoded control body. Strict: anything that is not exactly one of the three forms
 * is a {@link ControlParseFailure} (never a throw), with `replyTo` or `answers` set when the id
 * is still usable. An error object missing `message` or `code` (the telebit relay answers
 * `{}`) is accepted and filled in: the message becomes the object's JSON, the code
 * `E_UNKNOWN_ERR`, as `decodeErrorBody()` does for `error` frames.
 */
export function parseControlMessage(value: unknown): ControlMessage | ControlParseFailure {
  if (!Array.isArray(value)) return malformed(value, 'not an array');
  if (value.length === 0) return malformed(value, 'an empty array');
  const [id] = value as unknown[];
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return malformed(value, 'the id is not a safe integer');

  if (id > 0) {
    const command: unknown = value[1];
    if (typeof command !== 'string' || command === '') {
      return malformed(value, 'the command is not a non-empty string', { replyTo: id });
    }
    return { kind: 'request', id, command, args: value.slice(2) };
  }

  if (id < 0) {
    const answers = -id;
    if (value.length < 2 || value.length > 3) {
      return malformed(value, 'a response has 2 or 3 elements', { answers });
    }
    const raw: unknown = value[1];
    if (raw === null) {
      return value.length === 3 ? { kind: 'response', id: answers, error: null, result: value[2] as unknown } : { kind: 'response', id: answers, error: null };
    }
    const error = errorBody(raw);
    if (!error) return malformed(value, 'the error is neither null nor an object', { answers });
    return value.length === 3 ? { kind: 'response', id: answers, error, result: value[2] as unknown } : { kind: 'response', id: answers, error };
  }

  if (value.length !== 2) return malformed(value, 'a notice has exactly 2 elements');
  const error = errorBody(value[1]);
  if (!error) return malformed(value, 'the notice error is not an object');
  return { kind: 'notice', error };
}

/**
 * Builds `[id, command, ...args]`.
 * @throws ControlError `E_BAD_COMMAND` when `id` is not a positive safe integer or `command`
 * is empty: such a message would be read back as something else.
 */
export function request(id: number, command: string, ...args: unknown[]): ControlRequestWire {
  checkId(id);
  if (typeof command !== 'string' || command === '') {
    throw new ControlError('E_BAD_COMMAND', `a command must be a non-empty string, got ${JSON.stringify(command)}`);
  }
  return [id, command, ...args];
}

/**
 * Builds the answer to request `id` (positive): `[-id, error]`, or `[-id, null, result]`. A
 * `result` of `undefined` is left out, so that `[-1, null]` (what the telebit device answers to
 * `hello`) is written as such rather than `[-1, null, null]`. Only `message` and `code` of
 * `error` are kept: an `Error`'s `message` is not enumerable and would vanish in JSON.
 * @throws ControlError `E_BAD_COMMAND` when `id` is not a positive safe integer.
 */
export function response(id: number, error: ControlErrorBody | null, result?: unknown): ControlResponseWire {
  checkId(id);
  if (error !== null) return result === undefined ? [-id, pick(error)] : [-id, pick(error), result];
  return result === undefined ? [-id, null] : [-id, null, result];
}

/** Builds the out-of-band notice `[0, {message, code}]`. */
export function notice(error: ControlErrorBody): ControlNoticeWire {
  return [0, pick(error)];
}

function pick(error: ControlErrorBody): ControlErrorBody {
  return { message: String(error.message), code: String(error.code) };
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new ControlError('E_BAD_COMMAND', `a request id must be a positive safe integer, got ${String(id)}`);
  }
}

function errorBody(value: unknown): ControlErrorBody | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return errorBodyOf(value, JSON.stringify(value));
}

function malformed(
  value: unknown,
  reason: string,
  ids: { replyTo?: number; answers?: number } = {},
): ControlParseFailure {
  return { kind: 'malformed', reason, value, ...ids };
}
