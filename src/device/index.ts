export { createDevice, type Device, type DeviceOptions, type DeviceState, type TokenTransport } from './device.js';
export { parseForward, findForward, type Forward, type ForwardService } from './forwards.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { DeviceError, type DeviceErrorCode } from './errors.js';
export { TokenRefusedError } from './refusal.js';
