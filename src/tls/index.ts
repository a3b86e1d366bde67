export { AcmeCertificates, LETS_ENCRYPT, LETS_ENCRYPT_STAGING, checkAcme, type AcmeChallengeType, type AcmeOptions, type ServedCertificate } from './acme.js';
export { CertDir, defaultCertDir } from './cert-dir.js';
export { TlsError, type TlsErrorCode } from './errors.js';
export { HttpProxy, forwardedHeaders, setVisitor, type Visitor } from './http-proxy.js';
export { PlainHttpResponder } from './http-plain.js';
export { OwnCertificates, parseOwnCertificate, type OwnCertificate } from './own-certs.js';
export { renewalTime, retryDelay, type RenewalTiming } from './schedule.js';
export { TlsSites, type TlsCertificateOptions } from './sites.js';
export { ACME_TLS_ALPN, terminate } from './terminate.js';
