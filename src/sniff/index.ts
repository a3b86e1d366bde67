export { readClientHello, type ClientHelloResult } from './client-hello.js';
export { readHttpHost, type HttpHostResult } from './http-host.js';
export { sniffProtocol, type SniffResult } from './sniff.js';
export { DEFAULT_SNIFF_MAX_BYTES, type SniffOptions } from './options.js';
