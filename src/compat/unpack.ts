/**
 * `create()`: proxy-packer's unpacker, on top of the codec's state machine. The codec checks
 * the bytes (version, header, limits); this file only shapes what proxy-packer users expect:
 * string fields, `undefined` for missing ones, the error body merged into the message, and the
 * choice between handlers and events.
 */
import { EventEmitter } from 'node:events';
import { asBuffer } from '../codec/bytes.js';
import { FrameScanner } from '../codec/decode.js';
import { MproxyError, ProtocolError } from '../codec/errors.js';
import type { ParsedHeader } from '../codec/header.js';
import type { DecoderOptions } from '../codec/options.js';
import type {
  PackerHandler,
  PackerHandlers,
  PackerMessage,
  PackerMessageHandlers,
  Unpacker,
  UnpackerEmitter,
  UnpackerHandlers,
} from './types.js';

/** Codes of the errors only the compat decoder raises (on top of the codec's). */
export type CompatDecodeErrorCode = 'E_BAD_ERROR_BODY' | 'E_EMPTY_CONTROL' | 'E_NO_HANDLER';

type HandlerName = keyof UnpackerHandlers;
type EventName = 'tunnelData' | 'tunnelConnection' | 'tunnelControl' | 'tunnelError' | 'tunnelEnd' | 'tunnelPause' | 'tunnelResume';

// Maps instead of object literals: a service called `constructor` or `__proto__` must not find
// something on Object.prototype.
const HANDLERS: ReadonlyMap<string | undefined, HandlerName> = new Map([
  ['connection', 'onconnection'],
  ['control', 'oncontrol'],
  ['error', 'onerror'],
  ['end', 'onend'],
  ['pause', 'onpause'],
  ['resume', 'onresume'],
]);
const EVENTS: ReadonlyMap<string | undefined, EventName> = new Map([
  ['connection', 'tunnelConnection'],
  ['control', 'tunnelControl'],
  ['error', 'tunnelError'],
  ['end', 'tunnelEnd'],
  ['pause', 'tunnelPause'],
  ['resume', 'tunnelResume'],
]);

/** A decoded frame waiting for its handler: the header's service decides who gets it. */
interface Decoded {
  readonly wireService: string | undefined;
  readonly message: PackerMessage;
}

function noop(): void {}

/**
 * Creates a proxy-packer unpacker: feed it bytes with `fns.addChunk` (or its README name
 * `fns.addData`), get one handler call per frame.
 *
 * With `onmessage` (or `onMessage`) it is a plain object that calls the handler named for each
 * frame's service (`onconnection`, `oncontrol`, `onerror`, `onend`, `onpause`, `onresume`),
 * falling back to `onmessage` when that handler is missing. Without, it is an EventEmitter that
 * emits `tunnelData`, `tunnelConnection`, `tunnelControl`, `tunnelError`, `tunnelEnd`,
 * `tunnelPause` or `tunnelResume` with the message as argument.
 *
 * @param handlers the handlers, as proxy-packer takes them.
 * @param options decoder limits; `maxFrameSize` defaults to 16 MiB (proxy-packer has none).
 * @throws {InvalidOptionError} when `options` is out of range.
 */
export function create(handlers: PackerMessageHandlers, options?: DecoderOptions): Unpacker;
export function create(handlers?: PackerHandlers, options?: DecoderOptions): UnpackerEmitter;
export function create(handlers?: PackerHandlers, options?: DecoderOptions): Unpacker | UnpackerEmitter;
export function create(handlers: PackerHandlers = {}, options?: DecoderOptions): Unpacker | UnpackerEmitter {
  const emitter = handlers.onMessage || handlers.onmessage ? undefined : new EventEmitter();
  const machine = (emitter ?? {}) as Unpacker & Partial<Pick<EventEmitter, 'emit'>>;
  machine.onmessage = handlers.onmessage || handlers.onMessage;
  machine.oncontrol = handlers.oncontrol || handlers.onControl;
  machine.onconnection = handlers.onconnection || handlers.onConnection || noop;
  machine.onerror = handlers.onerror || handlers.onError;
  machine.onend = handlers.onend || handlers.onEnd;
  machine.onpause = handlers.onpause || handlers.onPause;
  machine.onresume = handlers.onresume || handlers.onResume;

  const scanner = new FrameScanner<Decoded>(options, toDecoded);
  // Frames decoded but not yet handed out. A handler that throws leaves the frames after its
  // own here; they are delivered, in order, at the start of the next call.
  const pending: (Decoded | undefined)[] = [];
  let head = 0; // an index, not shift(): a chunk may complete thousands of frames
  let failed = false;

  const deliver = (item: Decoded): void => {
    const { wireService, message } = item;
    if (emitter) {
      emitter.emit(EVENTS.get(wireService) ?? EVENTS.get(message.service) ?? 'tunnelData', message);
      return;
    }
    const own = HANDLERS.get(wireService);
    const fallback = HANDLERS.get(message.service);
    const handler: PackerHandler | undefined =
      (own && machine[own]) || (fallback && machine[fallback]) || machine.onmessage;
    // Only reachable when onmessage was removed from the unpacker after create(), where
    // proxy-packer dies with a TypeError.
    if (!handler) {
      throw new MproxyError('E_NO_HANDLER', `no handler for a ${String(wireService)} frame and no onmessage`);
    }
    handler(message);
  };

  const drain = (): void => {
    // A handler may call addChunk: the inner drain continues from the same head, so frames
    // stay in order, and leaves the queue empty for this loop to see.
    while (head < pending.length) {
      const item = pending[head] as Decoded;
      pending[head++] = undefined;
      deliver(item);
    }
    pending.length = 0;
    head = 0;
  };

  const addChunk = (chunk: Uint8Array): void => {
    drain();
    if (failed) {
      scanner.push(chunk); // throws the failure again
      return;
    }
    let failure: ProtocolError | undefined;
    try {
      for (const item of scanner.push(chunk)) pending.push(item);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      failed = true;
      failure = error;
      for (const item of error.frames as unknown as readonly Decoded[]) pending.push(item);
    }
    drain();
    if (failure) throw failure;
  };

  Object.defineProperty(machine, 'fns', {
    value: Object.freeze({ addChunk, addData: addChunk }),
    enumerable: true,
  });
  return machine;
}

// Called by the scanner with its shared header object: everything kept is copied out here.
function toDecoded(h: ParsedHeader, body: Uint8Array): Decoded {
  const n = h.fieldCount;
  const wireService = n >= 5 ? h.wireService : undefined;
  const data = body.length === 0 ? undefined : asBuffer(body);
  if (wireService === 'control' && data === undefined) {
    throw new ProtocolError(
      'E_EMPTY_CONTROL',
      'control frame without a body: proxy-packer consumers crash on it, a control message is JSON',
    );
  }
  let message: PackerMessage;
  if (wireService === 'error') {
    message = errorBody(data);
    message.family = h.family;
    message.address = h.address;
    message.port = portString(h.port);
    message.service = wireService;
    message.serviceport = n >= 6 ? portString(h.serviceport) : undefined;
    message.name = n >= 7 ? h.name : undefined;
    message.data = data;
  } else {
    message = {
      family: h.family,
      address: h.address,
      port: portString(h.port),
      service: wireService === 'connection' ? (n >= 8 ? h.originalService : undefined) : wireService,
      serviceport: n >= 6 ? portString(h.serviceport) : undefined,
      name: n >= 7 ? h.name : undefined,
      data,
    };
  }
  return { wireService, message };
}

// The codec accepts canonical ports only, so the number prints back as the wire's text.
function portString(port: number | null): string {
  return port === null ? '' : String(port);
}

/**
 * The start of an error message: the JSON body's own keys, or proxy-packer's fallback when the
 * body is not JSON. Key order matters to users comparing messages, so the fields are added after.
 */
function errorBody(data: Buffer | undefined): PackerMessage {
  let parsed: unknown;
  try {
    if (data === undefined) throw new SyntaxError('no body');
    parsed = JSON.parse(data.toString());
  } catch {
    // JSON.stringify(undefined) is undefined: proxy-packer's message is then 'e:undefined'.
    return { message: 'e:' + String(JSON.stringify(data)), code: 'E_UNKNOWN_ERR' } as unknown as PackerMessage;
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new ProtocolError(
      'E_BAD_ERROR_BODY',
      `error frame body is JSON ${JSON.stringify(parsed)}, not an object (proxy-packer crashes on it)`,
    );
  }
  return parsed as PackerMessage;
}
