import type { Command } from 'commander';
import { applyConfig, printConfig, withConfigOption } from '../config.js';
import { firstValueFrom } from 'rxjs';
import { checkDeviceConfig, createDevice, type DeviceOptions, type TokenTransport } from '../../device/device.js';
import { checkTerminatedNames } from '../../device/terminated.js';
import { cliError } from '../fail.js';
import { createCliLogger, withLogOptions, type LogFlags } from '../logger.js';
import { applyProcessSettings, logProcessSettings } from '../process-settings.js';
import { runUntilSignal } from '../run-until-signal.js';
import { readCertificateFlag } from '../pem-flags.js';
import { collect, readFlagFile } from '../secret.js';
import { acmeOptionsFrom, withAcmeOptions, type AcmeFlags } from '../acme-flags.js';
import { adminToken, startAdmin, withAdminOptions, type AdminFlags } from '../admin-flags.js';

interface DeviceFlags extends LogFlags, AcmeFlags, AdminFlags {
  cert?: string[];
  relay?: string | string[];
  token?: string[];
  tokenFile?: string[];
  forward?: string[];
  ca?: string;
  tokenIn: string;
  reconnect: boolean;
  printConfig?: boolean;
}

export function registerDevice(program: Command): void {
  const deviceCommand = withConfigOption(withLogOptions(program.command('device')))
    .description('run a device: connect to a relay and forward its clients to local services')
    .option(
      '--relay <url>',
      'the relay device endpoint, ws://host:port or wss://host:port; twice (or more) for a tunnel to each of several cluster nodes',
      // One relay stays a plain value (as --print-config shows it); more make a list.
      (value: string, previous?: string | string[]) => (previous === undefined ? value : [...[previous].flat(), value]),
    )
    .option('--token <jwt>', 'a token from `mproxy token` (repeatable; or --token-file, or MPROXY_TOKEN)', collect)
    .option('--token-file <path>', 'read a token from a file (repeatable)', collect)
    .option(
      '--forward <rule>',
      'https:name=host:port (TLS passed through), https:name=http://host:port or https:name=tcp://host:port (TLS terminated here), http:name=host:port, tcp:port=host:port or udp:port=host:port; add ,proxy=v1 or ,proxy=v2 to send the local service a PROXY protocol header (repeatable)',
      collect,
    )
    .option('--ca <path>', 'extra CA certificate (PEM) to trust for a wss:// relay')
    .option('--token-in <where>', 'how the first token is sent: query, header or control', 'query')
    .option('--no-reconnect', 'exit when the relay connection drops instead of reconnecting');
  withAdminOptions(withAcmeOptions(deviceCommand))
    .option('--cert <rule>', 'NAME=CERT.pem,KEY.pem: serve a terminated name with this certificate (repeatable; reloaded on change)', collect)
    .action(async (_flags: DeviceFlags, command: Command) => {
      applyConfig(command, new Set(['token', 'token-file', 'forward', 'cert', 'relay']));
      // `relay:` in a file may list several; one stays a plain value, as on the command line.
      const relayValue = command.getOptionValue('relay') as string | string[] | undefined;
      if (Array.isArray(relayValue) && relayValue.length === 1) {
        command.setOptionValueWithSource('relay', relayValue[0], command.getOptionValueSource('relay') ?? 'config');
      }
      const flags = command.opts<DeviceFlags>();
      // Before anything is read or opened: the process may start again with its settings.
      const notApplied = flags.printConfig ? undefined : applyProcessSettings();
      const tokens = [...(flags.token ?? [])];
      for (const file of flags.tokenFile ?? []) {
        const token = readFlagFile(file, '--token-file').toString('utf8').trim();
        if (!token) throw cliError('E_BAD_INPUT', `--token-file ${file} is empty`);
        tokens.push(token);
      }
      if (tokens.length === 0 && process.env.MPROXY_TOKEN) tokens.push(process.env.MPROXY_TOKEN);
      if (tokens.length === 0) throw cliError('E_USAGE', 'a token is required: --token, --token-file or MPROXY_TOKEN');
      if (!flags.relay) throw cliError('E_USAGE', 'give the relay: --relay wss://host:port (or relay: in --config)');
      const forwards = flags.forward ?? [];
      if (forwards.length === 0) throw cliError('E_USAGE', 'give at least one --forward');
      if (!['query', 'header', 'control'].includes(flags.tokenIn)) {
        throw cliError('E_USAGE', '--token-in must be query, header or control');
      }
      const adminSecret = adminToken(flags);
      const relays = [flags.relay].flat();
      const optionsFor = (relay: string): DeviceOptions => ({
        relay,
        tokens,
        forwards,
        tokenIn: flags.tokenIn as TokenTransport,
        ca: flags.ca ? readCertificateFlag(flags.ca, '--ca') : undefined,
        reconnect: flags.reconnect ? {} : false,
        tls: { acme: acmeOptionsFrom(flags), certs: flags.cert },
        metrics: flags.admin !== undefined,
      });
      if (flags.printConfig) {
        const [checked] = relays.map((relay) => checkDeviceConfig(optionsFor(relay)));
        // Every relay's device terminates the same names, with the same certificates.
        checkTerminatedNames(checked?.forwards ?? [], { acme: acmeOptionsFrom(flags), certs: flags.cert });
        process.stdout.write(printConfig(command, new Set(['token'])));
        return;
      }
      const log = createCliLogger(flags);
      logProcessSettings(log, notApplied);
      // One device per relay, each with its own tunnel and reconnects: the cluster keeps the
      // device's names with one of them and the others on standby (docs/cluster.md). Each one's
      // lines name its relay (as `relayUrl`: a device's own lines use `relay` for the relay it
      // connects to).
      const devices = relays.map((relay) => createDevice({ ...optionsFor(relay), logger: relays.length > 1 ? log.child({ relayUrl: relay }) : log }));
      const closeAll = async (): Promise<void> => void (await Promise.all(devices.map((device) => device.close())));
      // With --relay given twice, the admin listener serves the device of the first relay.
      const admin = await startAdmin(flags, adminSecret, { device: devices[0] }, log).catch(async (error: unknown) => {
        await closeAll();
        throw error;
      });
      for (const device of devices) device.state$.subscribe((state) => log.debug({ state }, 'device state'));
      // The first device to stop for good (a refused token) stops them all.
      const stopped = Promise.race(devices.map((device) => firstValueFrom(device.closed$)));
      const signalled = runUntilSignal(
        async () => {
          await admin?.close();
          await closeAll();
        },
        (signal) => log.info({ signal }, 'stopping'),
      );
      const result = await Promise.race([stopped, signalled.then(() => ({}))]);
      await admin?.close();
      if (devices.length > 1) await closeAll();
      // A fatal error (a refused token) is said once, by the exit line.
      if ('error' in result && result.error) throw result.error;
    });
}
