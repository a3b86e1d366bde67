/**
 * A transport over a WebSocket from the `ws` package. M-PROXY rides in binary messages whose
 * boundaries mean nothing: the peer decodes the concatenation as a byte stream.
 */
import type { RawData, WebSocket } from 'ws';
import { TransportBase } from './base.js';
import { TransportError } from './errors.js';
import type { Transport, TransportOptions } from './transport.js';

/**
 * Chunks smaller than this (frame headers, small bodies) written in one turn are joined into one
 * message; larger ones go as messages of their own, uncopied: past a few KiB, copying a chunk
 * costs more than the WebSocket frame it saves.
 */
const SMALL_CHUNK = 8 * 1024;
/** A batch of small chunks is sent once it holds this much. */
const BATCH_LIMIT = 64 * 1024;

// ws readyState values (the constants live on the class, which this module imports as a type).
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** Close code sent to a peer that sent a text message: "unsupported data". */
const UNSUPPORTED_DATA = 1003;

/** What {@link fromWebSocket} needs of the socket under a WebSocket. */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/** {@link TransportOptions} for {@link fromWebSocket}. */
export interface WebSocketTransportOptions extends TransportOptions {
  /**
   * The socket the WebSocket runs on: the one `WebSocketServer#handleUpgrade` was given, or
   * `response.socket` of a client WebSocket's `'upgrade'` event. When given, it is corked from
   * the first write of an event-loop turn to the end of that turn, so that all the turn sends (a
   * frame's header and body, the frames of every visitor read in one poll phase) leaves in one
   * `writev` rather than one per WebSocket message.
   */
  socket?: CorkableSocket;
}

class WebSocketTransport extends TransportBase {
  readonly #ws: WebSocket;
  readonly #socket: CorkableSocket | undefined;
  /** Chunks written while the WebSocket was connecting, sent on 'open'. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closeWhenOpen = false;
  #failure: TransportError | undefined;
  /** Small chunks written this turn, sent together when the turn ends. */
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  /** Set from the first write of a turn (which corks #socket) until the turn ends. */
  #turn: NodeJS.Immediate | undefined;
  // ws has no 'drain' event: the send callback (the socket's write callback) stands in for it.
  readonly #onSent = (): void => this.flushed();

  constructor(ws: WebSocket, options?: WebSocketTransportOptions) {
    super(options);
    this.#ws = ws;
    this.#socket = options?.socket;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('open', () => this.#onOpen());
    ws.on('error', (error) => {
      // ws always follows 'error' with 'close', which settles the transport.
      this.#failure ??= new TransportError('E_TRANSPORT_ERROR', `WebSocket failed: ${error.message}`, { cause: error });
    });
    ws.on('close', (code) => this.#onClose(code));
    if (ws.readyState === OPEN) ws.pause();
    else if (ws.readyState === CLOSED) this.finish(new TransportError('E_TRANSPORT_CLOSED', 'WebSocket was already closed'));
  }

  get bufferedAmount(): number {
    return this.#pendingBytes + this.#batchBytes + this.#ws.bufferedAmount;
  }

  protected sendChunk(chunk: Uint8Array): void {
    if (this.#ws.readyState === CONNECTING) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.byteLength;
      return;
    }
    // Small chunks written in one turn of the event loop (many clients' headers and small
    // frames) leave as one message: one WebSocket frame instead of one per chunk. Large chunks
    // and full batches go at once, in order (into the corked socket, when there is one: see
    // #beginTurn, so that the turn still leaves in one write).
    this.#beginTurn();
    if (chunk.byteLength >= SMALL_CHUNK) {
      this.#sendBatch();
      this.#ws.send(chunk, { binary: true }, this.#onSent);
      return;
    }
    this.#batch.push(chunk);
    this.#batchBytes += chunk.byteLength;
    if (this.#batchBytes >= BATCH_LIMIT) this.#sendBatch();
  }

  #beginTurn(): void {
    if (this.#turn) return;
    this.#socket?.cork();
    this.#turn = setImmediate(this.#endTurn);
  }

  /** Sends the turn's batch, then lets the corked writes go, all in one `writev`. */
  readonly #endTurn = (): void => {
    if (!this.#turn) return;
    clearImmediate(this.#turn);
    this.#turn = undefined;
    this.#sendBatch();
    this.#socket?.uncork();
  };

  #sendBatch(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    const bytes = this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    if (this.#ws.readyState !== OPEN) return;
    this.#ws.send(batch.length === 1 ? (batch[0] as Uint8Array) : Buffer.concat(batch, bytes), { binary: true }, this.#onSent);
  }

  protected sendChunks(chunks: readonly Uint8Array[]): void {
    // Each part as a chunk of its own (small ones join the turn's batch, large ones go
    // uncopied): the peer reassembles the byte stream whatever the message boundaries.
    for (const chunk of chunks) this.sendChunk(chunk);
  }

  protected startReading(): void {
    // A no-op while connecting; #onOpen leaves the socket flowing then.
    this.#ws.resume();
  }

  protected stopReading(): void {
    // Not while closing: see #closeNow.
    if (this.isOpen) this.#ws.pause();
  }

  protected closeCarrier(): void {
    const state = this.#ws.readyState;
    // Closing a connecting ws aborts the handshake and would drop the pending writes.
    if (state === CONNECTING) this.#closeWhenOpen = true;
    else if (state === OPEN) this.#closeNow();
  }

  /**
   * Sends the close frame and keeps reading: the peer's close frame may queue behind messages
   * it still sends, and a paused socket would leave the handshake (and the peer) hanging until
   * ws's 30 s close timeout. What arrives once nobody reads `incoming$` is dropped.
   */
  #closeNow(): void {
    this.#endTurn();
    this.#ws.close(1000);
    this.#ws.resume();
  }

  protected destroyCarrier(): void {
    this.#dropQueued();
    this.#ws.terminate();
  }

  /** Forgets what waits to be sent: the connection it waited for is gone. */
  #dropQueued(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#batch = [];
    this.#batchBytes = 0;
    // Uncorked even so: a socket left corked would hold back whatever ws still writes on it.
    this.#endTurn();
  }

  #onOpen(): void {
    if (this.isClosed) return;
    if (!this.isReading) this.#ws.pause();
    const pending = this.#pending;
    this.#pending = [];
    for (const chunk of pending) {
      this.#pendingBytes -= chunk.byteLength;
      this.sendChunk(chunk);
    }
    if (this.#closeWhenOpen) this.#closeNow();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#failure) return;
    // Closing, and nobody reads: drop rather than pile up a backlog no one will take.
    if (!this.isOpen && !this.isReading) return;
    if (!isBinary) {
      this.#failure = new TransportError('E_TEXT_MESSAGE', 'received a text message; M-PROXY needs binary messages');
      this.receivedError(this.#failure);
      this.#ws.close(UNSUPPORTED_DATA, 'binary messages only');
      return;
    }
    if (Array.isArray(data)) for (const fragment of data) this.received(fragment);
    else this.received(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  }

  #onClose(code: number): void {
    // Never opened: what waited for the connection will never be sent.
    this.#dropQueued();
    const clean = code === 1000 || code === 1005;
    const closed = clean ? undefined : new TransportError('E_TRANSPORT_CLOSED', `WebSocket closed with code ${code}`, { closeCode: code });
    this.finish(this.#failure ?? closed);
  }
}

/**
 * Wraps a `ws` WebSocket, open or still connecting (writes queue until it opens).
 *
 * - Incoming binary messages become chunks, whatever the `binaryType`; a text message fails
 *   `incoming$` and `closed$` with `E_TEXT_MESSAGE` and closes the WebSocket with 1003.
 * - Chunks and `writev` parts under 8 KiB written in one turn go out as one message (up to
 *   64 KiB); larger ones as messages of their own, never copied.
 * - With `options.socket`, all that one event-loop turn sends leaves in one `writev`.
 * - `bufferedAmount` is `ws.bufferedAmount` plus what waits for the connection to open;
 *   `congested$` turns false by send callbacks.
 * - `close()` sends close code 1000 after the queued messages; `destroy()` terminates.
 * - A close code other than 1000 or 1005 fails the transport with `E_TRANSPORT_CLOSED`
 *   (`closeCode` tells which); a ws `'error'` with `E_TRANSPORT_ERROR`.
 *
 * Reading pauses the WebSocket (`ws.pause()`) while `incoming$` has no subscriber.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks.
 */
export function fromWebSocket(ws: WebSocket, options?: WebSocketTransportOptions): Transport {
  return new WebSocketTransport(ws, options);
}
