export { decodeFrames } from './decode-frames.js';
export { encodeFrames, COALESCE_LIMIT } from './encode-frames.js';
export { groupByClient, type GroupByClientOptions } from './group-by-client.js';
export { Client, type ClientClosed, isRemoteError } from './client.js';
export { createTunnel, type Tunnel, type TunnelState, type OpenClientMeta } from './tunnel.js';
export { connectSocket, pipeSocket, type ConnectableSocket } from './connect-socket.js';
export { TunnelError, RemoteError, type TunnelErrorCode } from './errors.js';
export { type TunnelOptions, TUNNEL_DEFAULTS } from './options.js';
