/**
 * A self-signed certificate for `name` (a DNS name, or with `ip` an IP address), EC P-256:
 * what a local TLS service or a wss:// relay presents in a test. `cert` doubles as its own CA.
 */
export function selfSignedCertificate(name: string, options?: { ip?: boolean }): Promise<{ key: string; cert: string }>;
