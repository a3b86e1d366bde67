import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PackerMessageHandlers } from '../../src/compat/index.js';

export { prng } from '../support/index.js';

/** The real proxy-packer@2.0.4, the oracle. */
export interface ReferencePacker {
  create(handlers: object): {
    fns: { addChunk(chunk: Buffer): void };
    on?(event: string, listener: (...args: unknown[]) => void): unknown;
  };
  pack(meta: object, data: unknown, service?: unknown): Buffer;
  packHeader(meta: object, data: unknown, service?: unknown, andBody?: unknown, oldways?: unknown): Buffer;
  addrToId(address: object): string;
  socketToAddr(socket: object): unknown;
  socketToId(socket: object): string;
  Transform: { create(options: object): import('node:stream').Transform };
}

const require = createRequire(import.meta.url);
export const reference = require('proxy-packer') as ReferencePacker;

export type Data = null | { hex: string } | { json: unknown };

export interface PackCase {
  fn: 'pack' | 'packHeader' | 'packHeaderBody';
  meta: Record<string, string | number>;
  data: Data;
  service: string | null;
  expect: string;
}

export interface DecodeCase {
  stream: string;
  chunks: number[];
  events: { handler: string; msg: Record<string, unknown> }[];
}

export interface Vectors {
  reference: string;
  pack: PackCase[];
  decode: DecodeCase[];
}

export function loadVectors(): Vectors {
  const url = new URL('../fixtures/conformance.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Vectors;
}

/** A vector's `data` as it was passed to the reference. */
export function dataOf(data: Data): unknown {
  if (data === null) return null;
  if ('hex' in data) return Buffer.from(data.hex, 'hex');
  return data.json;
}

/**
 * A message in the vectors' notation (Buffer → `{hex}`, undefined → null), as a list of
 * entries so that key order is compared too, and arrays keep their extra keys.
 */
export function entries(value: unknown): unknown {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return { hex: value.toString('hex') };
  if (value !== null && typeof value === 'object') {
    return { entries: Object.keys(value).map((k) => [k, entries((value as Record<string, unknown>)[k])]), array: Array.isArray(value) };
  }
  return value;
}

/** A message written in the vectors' notation, in the notation of {@link entries}. */
export function vectorEntries(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const hex = (value as { hex?: unknown }).hex;
    if (keys.length === 1 && typeof hex === 'string') return { hex };
    return { entries: keys.map((k) => [k, vectorEntries((value as Record<string, unknown>)[k])]), array: false };
  }
  if (Array.isArray(value)) return { entries: Object.keys(value).map((k) => [k, vectorEntries(value[Number(k)])]), array: true };
  return value;
}

/** Cuts `bytes` into chunks of the given sizes (the last one takes the rest). */
export function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

export function randomSizes(total: number, random: () => number, maxChunk: number): number[] {
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    const n = Math.min(left, Math.floor(random() * maxChunk)); // 0 included: empty chunks too
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

export const HANDLER_NAMES = ['onmessage', 'onconnection', 'oncontrol', 'onerror', 'onend', 'onpause', 'onresume'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

export const EVENT_OF: Record<HandlerName, string> = {
  onmessage: 'tunnelData',
  onconnection: 'tunnelConnection',
  oncontrol: 'tunnelControl',
  onerror: 'tunnelError',
  onend: 'tunnelEnd',
  onpause: 'tunnelPause',
  onresume: 'tunnelResume',
};

export interface Call {
  handler: string;
  msg: unknown;
}

/** Handlers (the `names` given; all by default) that record each call, normalised. */
export function recorder(names: readonly HandlerName[] = HANDLER_NAMES): { handlers: PackerMessageHandlers; calls: Call[] } {
  const calls: Call[] = [];
  const handlers: Record<string, (msg: unknown) => void> = {};
  for (const name of names) handlers[name] = (msg) => calls.push({ handler: name, msg: entries(msg) });
  return { handlers: handlers as unknown as PackerMessageHandlers, calls };
}
