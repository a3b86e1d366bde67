/**
 * mproxy: the M-PROXY protocol (compatible with proxy-packer@2.0.4) and a reactive framework
 * for tunnels built on it. What a library user needs is here; `docs/reactive.md` ("API") lists
 * it. Building blocks for a transport of your own are in `mproxy/transport`; the proxy-packer
 * API is in `mproxy/compat`.
 * @packageDocumentation
 */

// Frames on the wire
export {
  VERSION_BYTE,
  MAX_HEADER_BYTES,
  addrToId,
  type FrameKind,
  type ClientAddress,
  type ClientMeta,
  type Frame,
  type FrameInit,
} from './codec/frame.js';
export { FrameDecoder } from './codec/decode.js';
export { encodeFrame, encodeFrameParts, type EncodedFrame } from './codec/encode.js';
export { decodeErrorBody, encodeErrorBody, type ErrorBody, UNKNOWN_ERROR_CODE } from './codec/error-body.js';
export { type DecoderOptions, DEFAULT_MAX_FRAME_SIZE } from './codec/options.js';
export { MproxyError, ProtocolError, InvalidFrameError, InvalidOptionError, type CodecErrorCode } from './codec/errors.js';

// Carriers
export type { Transport, TransportClosed, TransportOptions } from './transport/transport.js';
export { DEFAULT_HIGH_WATER_MARK, DEFAULT_LOW_WATER_MARK } from './transport/options.js';
export { TransportError, type TransportErrorCode } from './transport/errors.js';
export { fromSocket } from './transport/socket.js';
export { fromDuplex } from './transport/stream.js';
export { fromWebSocket, type CorkableSocket, type WebSocketTransportOptions } from './transport/websocket.js';
export { memoryPair } from './transport/memory.js';
export { keepAlive, type KeepAliveOptions } from './transport/keepalive.js';

// Operators and tunnels
export * from './rx/index.js';

// Relay and device
export { createRelay, type Relay, type RelayAddresses, type RelayDeviceInfo, type RelayClientInfo } from './relay/relay.js';
export { type RelayOptions, type ListenAddress } from './relay/options.js';
export { RelayError, type RelayErrorCode } from './relay/errors.js';
export { CLOSE_NO_TOKEN } from './relay/session.js';
export { ClusterError, type ClusterErrorCode } from './cluster/errors.js';
export { readClusterStatus, type ClusterStatus } from './cluster/status.js';
export type { ClusterOptions } from './cluster/options.js';
export type { LeaseHolder, NodeRecord } from './cluster/leases.js';
export { createDevice, type Device, type DeviceOptions, type DeviceState, type TokenTransport } from './device/device.js';
export { parseForward, type Forward, type ForwardService } from './device/forwards.js';
export { DeviceError, type DeviceErrorCode } from './device/errors.js';
export { NO_ANSWER, createControlChannel, type ControlChannel, type ControlHandler, type ControlPort, type ControlRequest } from './control/channel.js';
export { ControlError, type ControlErrorCode, type ControlErrorOptions } from './control/errors.js';
export { DEFAULT_CONTROL_TIMEOUT, type ControlChannelOptions } from './control/options.js';
export { type Logger, type LogFn, silentLogger } from './logger.js';

// Seeing what runs: metrics, the admin listener, PROXY protocol
export { TunnelMetrics, type NameTraffic } from './metrics/tunnel-metrics.js';
export { createAdminServer, type AdminOptions, type AdminServer } from './admin/server.js';
export { AdminError, type AdminErrorCode } from './admin/errors.js';
export { encodeProxyHeader, type ProxyEndpoint, type ProxyHeader, type ProxyVersion } from './proxy-protocol/header.js';
export { decodeProxyHeader, type ProxyDecodeResult } from './proxy-protocol/decode.js';
export { ProxyProtocolError, type ProxyProtocolErrorCode } from './proxy-protocol/errors.js';

// Routing and auth
export { sniffProtocol, type SniffResult } from './sniff/sniff.js';
export { readClientHello, type ClientHelloResult } from './sniff/client-hello.js';
export { readHttpHost, type HttpHostResult } from './sniff/http-host.js';
export { DEFAULT_SNIFF_MAX_BYTES, type SniffOptions } from './sniff/options.js';
export { AuthError, type AuthErrorCode } from './auth/errors.js';
export {
  issueToken,
  verifyToken,
  TOKEN_ALGORITHM,
  type Grant,
  type TokenClaims,
  type TokenSecret,
  type IssueOptions,
  type VerifyOptions,
} from './auth/token.js';

// TLS on the device
export { TlsError, type TlsErrorCode } from './tls/errors.js';
export { LETS_ENCRYPT, LETS_ENCRYPT_STAGING, type AcmeChallengeType, type AcmeOptions } from './tls/acme.js';
