// A relay or a device in a process of its own, for the memory rows of bench/e2e.mjs. Started
// with `fork()` (and --expose-gc) by the bench; driven over IPC, one request at a time:
//
//   { op: 'relay', secret, tcpPort }            → { tunnelUrl }
//   { op: 'device', relay, token, forward }     → {}                 (once online)
//   { op: 'ports' }                             → { tcp: number[] }  (relay)
//   { op: 'clients' }                           → { clients }        (device: tunnel clients)
//   { op: 'sample' }                            → process.memoryUsage() and the resident size of
//                                                  each V8 heap space, after full GCs
//   { op: 'snapshot', path }                    → {}                 (a heap snapshot, to see what a
//                                                                     client holds)
//   { op: 'close' }                             → {} then the process exits
//
// Every answer is `{ id, ok: true, ...result }` or `{ id, ok: false, error }`.
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { createDevice, createRelay } from '../../dist/index.js';

let relay;
let device;

const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};

async function handle(message) {
  switch (message.op) {
    case 'relay':
      relay = await createRelay({
        listen: '127.0.0.1:0',
        tunnel: '127.0.0.1:0',
        secret: message.secret,
        tcpPorts: String(message.tcpPort),
      });
      return { tunnelUrl: relay.tunnelUrl };
    case 'device':
      device = createDevice({ relay: message.relay, token: message.token, reconnect: false, forwards: [message.forward] });
      await device.online();
      return {};
    case 'ports':
      return { tcp: relay ? [...relay.ports.tcp] : [] };
    case 'clients':
      return { clients: device?.tunnel?.clients.size ?? 0 };
    case 'sample': {
      // Several rounds: weak references and finalizers free more on the second pass.
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      const m = process.memoryUsage();
      // Physical (resident) size of each V8 heap space: where RSS growth inside the heap went.
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
      return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces };
    }
    case 'snapshot':
      gc();
      writeHeapSnapshot(message.path);
      return {};
    case 'close':
      await device?.close();
      await relay?.close();
      return {};
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

process.on('message', (message) => {
  handle(message).then(
    (result) => {
      process.send({ id: message.id, ok: true, ...result });
      if (message.op === 'close') process.disconnect();
    },
    (error) => process.send({ id: message.id, ok: false, error: error?.stack ?? String(error) }),
  );
});
process.on('disconnect', () => {
  // The bench is gone (or done with us): leave at once.
  setTimeout(() => process.exit(0), 100).unref();
});
