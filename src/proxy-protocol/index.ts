export { decodeProxyHeader, looksLikeProxyHeader, DEFAULT_PROXY_MAX_BYTES, type ProxyDecodeResult } from './decode.js';
export { encodeProxyHeader, V1_MAX_BYTES, V2_SIGNATURE, type ProxyEndpoint, type ProxyHeader, type ProxyVersion } from './header.js';
export { ProxyProtocolError, type ProxyProtocolErrorCode } from './errors.js';
export { readProxyHeader } from './read.js';
export { TrustedSources } from './sources.js';
