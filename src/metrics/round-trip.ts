import type { WebSocket } from 'ws';

/**
 * Pings `ws` every `every` ms and reports each round trip (ms). Unref'd; stops on close or
 * when the returned function is called. Used only when metrics are on.
 */
export function watchRoundTrip(ws: WebSocket, report: (ms: number) => void, every = 10_000): () => void {
  let sentAt: number | undefined;
  const ping = (): void => {
    if (sentAt !== undefined || ws.readyState !== ws.OPEN) return;
    sentAt = performance.now();
    ws.ping();
  };
  const pong = (): void => {
    if (sentAt === undefined) return;
    report(performance.now() - sentAt);
    sentAt = undefined;
  };
  const timer = setInterval(ping, every);
  timer.unref();
  ws.on('pong', pong);
  const stop = (): void => {
    clearInterval(timer);
    ws.off('pong', pong);
    ws.off('close', stop);
  };
  ws.on('close', stop);
  ping();
  return stop;
}
