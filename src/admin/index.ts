export { createAdminServer, isLoopback, ADMIN_EVENT_INTERVAL, type AdminOptions, type AdminServer } from './server.js';
export { AdminError, type AdminErrorCode } from './errors.js';
