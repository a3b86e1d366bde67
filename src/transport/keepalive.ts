import type { WebSocket } from 'ws';

/** Options of {@link keepAlive}. */
export interface KeepAliveOptions {
  /** Ping after this long without hearing from the peer (ms). */
  readonly interval: number;
  /** Give up when no pong (or any other message) arrives this long after a ping (ms). */
  readonly timeout: number;
}

/**
 * Finds dead peers: after `interval` of silence the socket is pinged; if nothing at all comes
 * back within `timeout`, it is terminated (which closes the tunnel over it). Any message or
 * pong counts as life. Returns a function that stops watching; it also stops on close.
 */
export function keepAlive(ws: WebSocket, options: KeepAliveOptions): () => void {
  let lastHeard = Date.now();
  let pingSentAt: number | undefined;
  const heard = (): void => {
    lastHeard = Date.now();
    pingSentAt = undefined;
  };
  // One timer ticking at the shorter period checks both deadlines; it is cheap and unref'd.
  const tick = Math.max(10, Math.min(options.interval, options.timeout) / 2);
  const timer = setInterval(() => {
    const now = Date.now();
    if (pingSentAt === undefined) {
      if (now - lastHeard < options.interval || ws.readyState !== ws.OPEN) return;
      pingSentAt = now;
      ws.ping();
    } else if (now - pingSentAt >= options.timeout) {
      stop();
      // terminate() is immediate: a dead peer will not complete a closing handshake.
      ws.terminate();
    }
  }, tick);
  timer.unref();
  const signs = ['message', 'pong', 'ping'] as const;
  for (const sign of signs) ws.on(sign, heard);
  const stop = (): void => {
    clearInterval(timer);
    for (const sign of signs) ws.off(sign, heard);
    ws.off('close', stop);
  };
  ws.on('close', stop);
  return stop;
}
