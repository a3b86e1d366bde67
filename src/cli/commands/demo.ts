import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidName, normalizeName } from '../../auth/names.js';
import { issueToken } from '../../auth/token.js';
import { createDevice } from '../../device/device.js';
import { createRelay } from '../../relay/relay.js';
import { cliError, namingTheFlag } from '../fail.js';
import { createCliLogger, withLogOptions, type LogFlags } from '../logger.js';
import { runUntilSignal } from '../run-until-signal.js';

interface DemoFlags extends LogFlags {
  listen: string;
  tunnel: string;
  name: string;
}

export function registerDemo(program: Command): void {
  withLogOptions(program.command('demo'))
    .description('run a relay, a device and a local HTTPS service on loopback, and print a curl that crosses the tunnel')
    .option('--listen <host:port>', 'where visitors connect', '127.0.0.1:8443')
    .option('--tunnel <host:port>', 'where the device connects', '127.0.0.1:8080')
    .option('--name <name>', 'the name the local HTTPS service is reached by', 'app.localhost')
    .action(async (flags: DemoFlags) => {
      // Checked before anything starts: a relay already listening would make the refusal look late.
      const name = normalizeName(flags.name);
      if (!isValidName(name)) throw cliError('E_USAGE', `--name ${JSON.stringify(flags.name)} is not a DNS name (letters, digits, hyphens and dots)`);
      const log = createCliLogger(flags);
      const dir = mkdtempSync(join(tmpdir(), 'mproxy-demo-'));
      const stops: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
      const stopAll = async (): Promise<void> => {
        for (const stop of stops.splice(0).reverse()) await stop();
      };
      try {
        // The local service's own certificate: the relay passes TLS through and never sees a key.
        const { generate } = await import('selfsigned');
        const pems = await generate([{ name: 'commonName', value: name }], {
          keySize: 2048,
          extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }],
        });
        const certPath = join(dir, `${name}.pem`);
        writeFileSync(certPath, pems.cert);
        const service: Server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`Hello from the device's local HTTPS service, reached through mproxy (${req.method} ${req.url})\n`);
        });
        await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
        stops.push(() => new Promise<void>((resolve) => service.close(() => resolve())));
        const servicePort = (service.address() as AddressInfo).port;

        const secret = randomBytes(32).toString('hex');
        const relay = await createRelay({ listen: flags.listen, tunnel: flags.tunnel, secret, logger: log.child({ role: 'relay' }) }).catch((error: unknown) => {
          throw namingTheFlag(error);
        });
        stops.push(() => relay.close());
        const token = await issueToken(secret, { domains: [name], sub: 'demo-device' });
        const device = createDevice({
          relay: relay.tunnelUrl,
          token,
          forwards: [`https:${name}=127.0.0.1:${servicePort}`],
          logger: log.child({ role: 'device' }),
        });
        stops.push(() => device.close());
        await device.online();

        const { address, port } = relay.addresses.public;
        const url = `https://${name}:${port}/`;
        process.stdout.write(
          `\nmproxy demo is running: relay ${address}:${port}, device endpoint ${relay.tunnelUrl},\n` +
            `local HTTPS service 127.0.0.1:${servicePort} forwarded as ${name}.\n\n` +
            `Reach it through the tunnel (TLS passes through the relay; curl checks the service's own certificate):\n\n` +
            `  curl --cacert ${certPath} --resolve ${name}:${port}:${address} ${url}\n\n` +
            `Press Ctrl-C to stop.\n`,
        );
      } catch (error) {
        await stopAll();
        throw error;
      }
      await runUntilSignal(stopAll, (signal) => log.info({ signal }, 'stopping'));
    });
}
