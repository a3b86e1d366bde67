export { createRelay, type Relay, type RelayAddresses } from './relay.js';
export { type RelayOptions, type ListenAddress, MIN_SECRET_BYTES } from './options.js';
export { ListenError, RelayError, type RelayErrorCode } from './errors.js';
export { CLOSE_NO_TOKEN } from './session.js';
