/**
 * `mproxy/transport`: what it takes to write a transport of your own (see docs/transports.md).
 * Subclass {@link TransportBase} and say how your carrier sends, reads, closes and is destroyed.
 * @packageDocumentation
 */
export { TransportBase } from './base.js';
export type { Transport, TransportClosed, TransportOptions } from './transport.js';
export { DEFAULT_HIGH_WATER_MARK, DEFAULT_LOW_WATER_MARK, type ResolvedTransportOptions } from './options.js';
export { TransportError, type TransportErrorCode } from './errors.js';
