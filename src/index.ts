/**
 * mproxy: the M-PROXY protocol (compatible with proxy-packer@2.0.4) and a reactive framework
 * for tunnels built on it.
 * @packageDocumentation
 */
export * from './codec/index.js';
export * from './transport/index.js';
export { keepAlive, type KeepAliveOptions } from './transport/keepalive.js';
export * from './control/index.js';
export * from './relay/index.js';
export * from './device/index.js';
export { type Logger, type LogFn, silentLogger } from './logger.js';
export * from './rx/index.js';
export * from './sniff/index.js';
export * from './auth/index.js';
export * from './tls/index.js';
