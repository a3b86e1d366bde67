/**
 * The operator pipeline of examples/operators.mjs holds a bounded amount against a slow reader:
 * a visitor uploads 64 MiB as fast as the tunnel lets it and reads the answers at 1 MiB/s, and
 * what the example's process holds (its live heap and array buffers after a full collection,
 * asked through the inspector) grows by less than 8 MiB. Its plain RSS is printed beside: it
 * keeps the peak of the garbage made while the first megabytes fill the kernel's buffers, which
 * the allocator does not give back.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { defer } from './support/index.js';
import { connectSocket, createTunnel, fromSocket } from '../src/index.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const OFFERED = 64 * MiB;
const READ_RATE = MiB; // bytes per second
const RUN_MS = 5_000;

/**
 * What a process started with `--inspect=127.0.0.1:0` holds: heap used plus array buffers,
 * after a full collection, in bytes.
 */
async function held(inspector: WebSocket): Promise<number> {
  let id = 0;
  const call = async (method: string, params?: object): Promise<{ result?: { result?: { value?: string } } }> => {
    const mine = ++id;
    inspector.send(JSON.stringify({ id: mine, method, params }));
    for (;;) {
      const [data] = (await once(inspector, 'message')) as [Buffer];
      const message = JSON.parse(data.toString()) as { id?: number };
      if (message.id === mine) return message as { result?: { result?: { value?: string } } };
    }
  };
  // Twice: V8 frees dead ArrayBuffers' memory on a background thread after a collection, and
  // `arrayBuffers` read right after one may still count it; the next collection finishes that.
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const answer = await call('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
    returnByValue: true,
  });
  const usage = JSON.parse(answer.result?.result?.value ?? '{}') as { heapUsed: number; arrayBuffers: number };
  return usage.heapUsed + usage.arrayBuffers;
}

/** Resident set of a process, in bytes. */
function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  if (!line) throw new Error(`no VmRSS for ${pid}`);
  return Number(line[1]) * 1024;
}

describe('examples/operators.mjs against a slow reader', () => {
  it('holds less than 8 MiB more than at the start while 64 MiB are offered and 1 MiB/s is read', async () => {
    const file = fileURLToPath(new URL('../examples/operators.mjs', import.meta.url));
    const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', file, '--listen', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    defer(() => child.kill('SIGKILL'));
    let stderr = '';
    const inspectorUrl = new Promise<string>((resolve) =>
      child.stderr.on('data', (data: Buffer) => {
        stderr += data.toString();
        const url = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(stderr)?.[0];
        if (url) resolve(url);
      }),
    );
    const inspector = new WebSocket(await inspectorUrl);
    defer(() => inspector.terminate());
    await once(inspector, 'open');
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(line.toString())?.[1]);
    expect(port).toBeGreaterThan(0);

    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const tunnel = createTunnel(fromSocket(socket));
    defer(() => tunnel.destroy());
    const client = tunnel.open({ family: 'IPv4', address: '198.51.100.9', port: 50000, service: 'tcp', serviceport: 7 });
    const pid = child.pid as number;

    // A visitor joined to the client, as a relay joins one: it uploads 64 MiB as fast as it may
    // (write until false, wait for 'drain') and reads the answers at READ_RATE.
    const local = net.createServer((accepted) => connectSocket(client, accepted));
    defer(() => local.close());
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    const visitor = net.connect((local.address() as net.AddressInfo).port, '127.0.0.1');
    defer(() => visitor.destroy());
    await once(visitor, 'connect');
    // One answer first, so that both measures start from a process that has run the pipeline.
    visitor.write('warm up');
    await once(visitor, 'data');
    visitor.pause();
    const start = rss(pid);
    const startHeld = await held(inspector);
    let offered = 0;
    const chunk = Buffer.alloc(CHUNK, 'a');
    const upload = async (): Promise<void> => {
      while (offered < OFFERED && !visitor.destroyed) {
        offered += chunk.length;
        if (!visitor.write(chunk)) await once(visitor, 'drain');
      }
    };
    void upload().catch(() => {});
    let read = 0;
    let wrong = 0;
    let budget = 0;
    visitor.on('data', (answer: Buffer) => {
      read += answer.length;
      budget -= answer.length;
      for (const byte of answer) if (byte !== 0x41) wrong++;
      if (budget <= 0) visitor.pause();
    });
    const reader = setInterval(() => {
      budget += READ_RATE / 10;
      if (budget > 0) visitor.resume();
    }, 100);
    defer(() => clearInterval(reader));

    let peak = start;
    const sample = setInterval(() => (peak = Math.max(peak, rss(pid))), 50);
    defer(() => clearInterval(sample));
    await new Promise((resolve) => setTimeout(resolve, RUN_MS));
    peak = Math.max(peak, rss(pid));
    const endHeld = await held(inspector);

    console.log(`operators.mjs: held ${(startHeld / MiB).toFixed(1)} -> ${(endHeld / MiB).toFixed(1)} MiB, rss ${(start / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB; read ${(read / MiB).toFixed(1)} MiB, offered ${(offered / MiB).toFixed(1)} MiB`);
    // It ran: the reader got about its rate, all of it upper-cased; the writer was held back.
    expect(wrong).toBe(0);
    expect(read).toBeGreaterThan((READ_RATE * RUN_MS) / 1000 / 2);
    expect(read).toBeLessThan((READ_RATE * RUN_MS) / 1000 + 2 * MiB);
    expect(offered).toBeLessThan(OFFERED / 2);
    expect(endHeld - startHeld).toBeLessThan(8 * MiB);
  }, 20_000);
});
