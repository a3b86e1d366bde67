export { TunnelMetrics, nameOf, refusalReason, type NameTraffic } from './tunnel-metrics.js';
export { watchRoundTrip } from './round-trip.js';
