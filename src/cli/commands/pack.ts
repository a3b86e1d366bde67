/**
 * `mproxy pack <input.json> <output.bin>`: what proxy-packer's `test/pack.js` does, byte for
 * byte, so that an implementation can be checked against the reference on the same input.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { encodeFrame } from '../../codec/encode.js';
import { MAX_PORT } from '../../codec/frame.js';
import { canonicalPort } from '../../codec/port.js';
import { readClientHello } from '../../sniff/client-hello.js';
import { cliError } from '../fail.js';

/** The reference's `Packer.pack` sends one space for an empty body. */
const EMPTY_BODY = new Uint8Array([0x20]);

export function registerPack(program: Command): void {
  program
    .command('pack')
    .description("wrap a captured packet in an M-PROXY data frame, as proxy-packer's test/pack.js does")
    .argument('<input.json>', '{ version, address: { family, address, port, service, serviceport }, filepath }')
    .argument('<output.bin>', 'where to write the frame')
    .action(async (input: string, output: string) => {
      const frame = await pack(input);
      await writeFile(output, frame);
      process.stdout.write(`wrote ${frame.length} bytes to '${output}'\n`);
    });
}

/** Reads `input` and the file it names, and returns the frame the reference would write. */
async function pack(input: string): Promise<Uint8Array> {
  const text = await readFile(input, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw cliError('E_BAD_INPUT', `'${input}' is not JSON: ${(cause as Error).message}`, { cause });
  }
  const spec = readSpec(json, input);
  // As the reference: filepath is relative to the JSON file, not to the working directory.
  const data = await readFile(path.resolve(path.dirname(input), spec.filepath));
  return encodeFrame({
    kind: 'data',
    family: spec.family,
    address: spec.address,
    port: spec.port,
    service: spec.service,
    serviceport: spec.serviceport,
    name: nameOf(data),
    data: data.length === 0 ? EMPTY_BODY : data,
  });
}

interface PackSpec {
  readonly family: string;
  readonly address: string;
  readonly port: number;
  readonly service: string;
  readonly serviceport: number | null;
  readonly filepath: string;
}

function readSpec(json: unknown, input: string): PackSpec {
  const bad = (why: string) => cliError('E_BAD_INPUT', `'${input}': ${why}`);
  if (!isObject(json)) throw bad('expected a JSON object');
  if (json.version !== undefined && json.version !== 1) {
    throw bad(`version must be 1 (M-PROXY v1), got ${JSON.stringify(json.version)}`);
  }
  const address = json.address;
  if (!isObject(address)) throw bad('address must be an object');
  if (typeof address.family !== 'string') throw bad('address.family must be a string');
  if (typeof address.address !== 'string') throw bad('address.address must be a string');
  const port = canonicalPort(address.port);
  if (port === undefined) throw bad(`address.port must be a port 0-${MAX_PORT}`);
  if (address.service !== undefined && address.service !== null && typeof address.service !== 'string') {
    throw bad('address.service must be a string');
  }
  // The reference writes `serviceport || ''`: a numeric 0 is left out, as is a missing one.
  const serviceport =
    address.serviceport === 0 || address.serviceport === undefined || address.serviceport === null
      ? null
      : canonicalPort(address.serviceport);
  if (serviceport === undefined) throw bad(`address.serviceport must be a port 0-${MAX_PORT}`);
  if (typeof json.filepath !== 'string' || json.filepath === '') throw bad('filepath must be a non-empty string');
  return {
    family: address.family,
    address: address.address,
    port,
    service: address.service ?? '',
    serviceport,
    filepath: json.filepath,
  };
}

/**
 * The name the reference puts in the header: the ClientHello's SNI, else the first `Host:`
 * header found anywhere in the bytes (its rule, kept as is: case-insensitive, exactly one space
 * after the colon, lowercased, cut at the first colon), else empty.
 */
function nameOf(data: Buffer): string {
  const hello = readClientHello(data, { maxBytes: Math.max(data.length, 1) });
  if (hello.status === 'tls' && hello.serverName) return hello.serverName;
  const match = /(?:^|[\r\n])Host: ([^\r\n]+)/im.exec(data.toString('utf8'));
  return (match?.[1] ?? '').toLowerCase().split(':')[0] ?? '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
