export type { Transport, TransportClosed, TransportOptions } from './transport.js';
export {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_LOW_WATER_MARK,
  resolveTransportOptions,
  type ResolvedTransportOptions,
} from './options.js';
export { TransportError, type TransportErrorCode } from './errors.js';
export { WriteFlow } from './flow.js';
export { IncomingQueue, type ReadControl } from './incoming.js';
export { TransportBase } from './base.js';
export { fromSocket } from './socket.js';
export { fromDuplex } from './stream.js';
export { fromWebSocket, type CorkableSocket, type WebSocketTransportOptions } from './websocket.js';
export { memoryPair } from './memory.js';
