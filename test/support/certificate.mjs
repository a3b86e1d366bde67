// The one self-signed certificate maker of the tests and the benches, in plain JavaScript so that
// the benches (plain node, no build step) can import it too. Types: certificate.d.mts.
import { generate } from 'selfsigned';

/**
 * A self-signed certificate for `name` (a DNS name, or with `ip` an IP address), EC P-256:
 * what a local TLS service or a wss:// relay presents in a test. `cert` doubles as its own CA.
 * @param {string} name
 * @param {{ ip?: boolean }} [options]
 * @returns {Promise<{ key: string, cert: string }>}
 */
export async function selfSignedCertificate(name, { ip = false } = {}) {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [ip ? { type: 7, ip: name } : { type: 2, value: name }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
