/**
 * mproxy: the M-PROXY protocol (compatible with proxy-packer@2.0.4) and a reactive framework
 * for tunnels built on it.
 * @packageDocumentation
 */
export * from './codec/index.js';
