/**
 * mproxy: the M-PROXY protocol (compatible with proxy-packer@2.0.4) and a reactive framework
 * for tunnels built on it.
 * @packageDocumentation
 */
export * from './codec/index.js';
export type { Transport, TransportOptions, TransportClosed } from './transport/transport.js';
export * from './rx/index.js';
export * from './sniff/index.js';
export * from './auth/index.js';
