/**
 * The built package loads as proxy-packer users load it. Needs `npm run build` first (done by
 * `npm test`).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadVectors, reference } from './helpers.js';

const require = createRequire(import.meta.url);
const vectors = loadVectors();

interface Loaded {
  create(handlers: object): { fns: { addChunk(chunk: Buffer): void; addData(chunk: Buffer): void } };
  pack(meta: object, data: unknown, service?: string): Buffer;
  packHeader(meta: object, data: unknown, service?: string | null, andBody?: boolean): Buffer;
  Stream: { wrapSocket: unknown; create: unknown };
  Transform: { create: unknown };
}

function check(Packer: Loaded): void {
  for (const key of Object.keys(reference)) expect(Packer, key).toHaveProperty(key);
  expect(typeof Packer.Stream.wrapSocket).toBe('function');
  const c = vectors.pack.find((p) => p.fn === 'packHeaderBody' && p.data !== null && 'hex' in p.data);
  if (!c || c.data === null || !('hex' in c.data)) return expect.unreachable('vectors have a packHeaderBody case');
  expect(Packer.packHeader({ ...c.meta }, Buffer.from(c.data.hex, 'hex'), c.service, true).toString('hex')).toBe(c.expect);
  const got: unknown[] = [];
  Packer.create({ onmessage: (m: unknown) => got.push(m) }).fns.addData(Packer.pack({ family: 'IPv4', address: '1.2.3.4', port: 5 }, Buffer.from('x')));
  expect(got).toHaveLength(1);
}

describe('the built mproxy/compat', () => {
  it('loads with require() as proxy-packer does: require(...).create works', () => {
    const Packer = require('../../dist/compat.cjs') as Loaded & { default: Loaded };
    check(Packer);
    check(Packer.default);
  });

  it('loads through the package name in both module systems', async () => {
    check(require('mproxy/compat') as Loaded);
    const esm = (await import('mproxy/compat')) as Loaded & { default: Loaded };
    check(esm.default);
    check(esm);
  });

  it('loads dist/compat.js as an ES module with a default export', async () => {
    const esm = (await import('../../dist/compat.js' as string)) as { default: Loaded };
    check(esm.default);
  });
});
