/**
 * acme-client, loaded when the first certificate is ordered (it and its axios cost a process
 * megabytes of heap, and most relays and devices never order one), with its HTTP settings, which
 * are one process-wide axios instance: extra CAs to trust for private ACME servers, and the CA's
 * rate-limit answers turned into errors that carry the time to come back (the library would
 * otherwise sleep through `Retry-After` inside a request).
 */
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { TlsError } from './errors.js';

/** The acme-client module. */
export type Acme = typeof import('acme-client');

const extraCas = new Set<string>();
let loading: Promise<Acme> | undefined;
let loaded: Acme | undefined;

/** acme-client, configured; loaded once. */
export function loadAcme(): Promise<Acme> {
  loading ??= import('acme-client').then((module) => {
    const acme = (module as unknown as { default?: Acme }).default ?? module;
    configure(acme);
    loaded = acme;
    if (extraCas.size > 0) trustCas(acme);
    return acme;
  });
  return loading;
}

/** Trusts `ca` (PEM) for ACME requests, beside the public roots. */
export function trustAcmeCa(ca: string): void {
  if (extraCas.has(ca)) return;
  extraCas.add(ca);
  if (loaded) trustCas(loaded);
}

function trustCas(acme: Acme): void {
  acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, ...extraCas], keepAlive: false });
}

function configure(acme: Acme): void {
  // Retries are the certificate manager's (with its own backoff and log line), not hidden
  // sleeps inside one request.
  const settings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings;
  if (settings) settings.retryMaxAttempts = 0;
  acme.axios.defaults.timeout = 30_000;
  // Ahead of acme-client's own handler, which cannot take an error without a response once
  // its retries are off: such errors leave here as TlsErrors (without the axios `config` that
  // handler looks for), and so does a rate limit, with its time to come back.
  const manager = acme.axios.interceptors.response as unknown as { use: typeof acme.axios.interceptors.response.use; handlers?: unknown[] };
  manager.use(undefined, (error: { code?: string; message?: string; response?: { status: number; headers: Record<string, unknown>; data?: unknown } }) => {
    const response = error.response;
    if (!response) {
      throw new TlsError('E_ACME_FAILED', `cannot reach the ACME server: ${error.message || error.code || 'no answer'}${error.code && !error.message?.includes(error.code) ? ` (${error.code})` : ''}`, { cause: error });
    }
    if (response.status === 429) {
      const retryAt = retryAfter(response.headers['retry-after']);
      const data = response.data as { detail?: unknown } | undefined;
      const detail = typeof data?.detail === 'string' ? data.detail : 'too many requests';
      throw new TlsError('E_ACME_RATE_LIMITED', `the ACME server is rate limiting: ${detail}`, { retryAt });
    }
    throw error;
  });
  const handlers = manager.handlers;
  if (Array.isArray(handlers)) handlers.unshift(handlers.pop());
}

/** A `Retry-After` header (seconds or an HTTP date) as a time; `undefined` if absent or bad. */
export function retryAfter(header: unknown, now = Date.now()): Date | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return new Date(now + Number(header.trim()) * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : new Date(at);
}
