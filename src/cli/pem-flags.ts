import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFlagFile } from './secret.js';
import { cliError } from './fail.js';

/**
 * A PEM certificate (or chain, or bundle) from a flag's file: refused with the flag and the
 * file named when it holds none, rather than with OpenSSL's words when TLS first uses it.
 */
export function readCertificateFlag(path: string, flag: string): Buffer {
  const pem = readFlagFile(path, flag);
  certificateOf(pem, path, flag);
  return pem;
}

/** A certificate and its private key, each checked, and checked to belong together. */
export function readKeyPairFlags(certPath: string, keyPath: string, certFlag: string, keyFlag: string): { cert: Buffer; key: Buffer } {
  const cert = readFlagFile(certPath, certFlag);
  const key = readFlagFile(keyPath, keyFlag);
  const certificate = certificateOf(cert, certPath, certFlag);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw cliError('E_BAD_INPUT', `${keyFlag} ${keyPath} holds no PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw cliError('E_BAD_INPUT', `${keyFlag} ${keyPath} is not the key of the certificate in ${certFlag} ${certPath}`);
  }
  return { cert, key };
}

function certificateOf(pem: Buffer, path: string, flag: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw cliError('E_BAD_INPUT', `${flag} ${path} holds no PEM certificate`);
  }
}
