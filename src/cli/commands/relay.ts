import type { Command } from 'commander';
import { applyConfig, printConfig, withConfigOption } from '../config.js';
import { MAX_TIMER } from '../../control/options.js';
import { createRelay } from '../../relay/relay.js';
import { checkRelayConfig, type RelayOptions } from '../../relay/options.js';
import { redactUrl } from '../../cluster/redis.js';
import { parseMilliseconds } from '../../cluster/duration.js';
import { cliError, namingTheFlag } from '../fail.js';
import { createCliLogger, withLogOptions, type LogFlags } from '../logger.js';
import { applyProcessSettings, logProcessSettings } from '../process-settings.js';
import { runUntilSignal } from '../run-until-signal.js';
import { readKeyPairFlags } from '../pem-flags.js';
import { checkSecretStrength, collect, readSecret } from '../secret.js';
import { acmeOptionsFrom, withAcmeOptions, type AcmeFlags } from '../acme-flags.js';
import { adminToken, startAdmin, withAdminOptions, type AdminFlags } from '../admin-flags.js';

interface RelayFlags extends LogFlags, AcmeFlags, AdminFlags {
  acceptProxyProtocol?: string;
  tunnelAcme?: string;
  listen?: string[];
  tunnel: string;
  secret?: string;
  secretFile?: string;
  tcpPorts?: string;
  udpPorts?: string;
  portHost?: string;
  tunnelCert?: string;
  tunnelKey?: string;
  sniffTimeout: string;
  tokenGrace: string;
  allowWeakSecret?: boolean;
  printConfig?: boolean;
  cluster?: string;
  nodeId?: string;
  nodeListen?: string;
  nodeAdvertise?: string;
  nodeTls?: boolean;
  leaseTtl: string;
  leaseGrace: string;
  drainTimeout: string;
}

export function registerRelay(program: Command): void {
  const relayCommand = withConfigOption(withLogOptions(program.command('relay')))
    .description('run a relay: visitors on --listen (TLS by SNI, HTTP by Host), devices on --tunnel')
    .option('--listen <host:port>', 'where visitors connect (repeatable, e.g. :80 and :443; default: 127.0.0.1:8443)', collect)
    .option('--tunnel <host:port>', 'where devices connect (WebSocket)', '127.0.0.1:8080')
    .option('--secret <secret>', 'the secret that signs device tokens (or --secret-file, or MPROXY_SECRET)')
    .option('--secret-file <path>', 'read the secret from a file')
    .option('--tcp-ports <ranges>', 'TCP ports tokens may claim, e.g. 5000-5100,6000')
    .option('--udp-ports <ranges>', 'UDP ports tokens may claim')
    .option('--port-host <host>', 'host the claimed ports listen on (default: the --listen host)')
    .option('--tunnel-cert <path>', 'PEM certificate to serve the device endpoint as wss://')
    .option('--tunnel-key <path>', 'PEM key for --tunnel-cert')
    .option('--sniff-timeout <delay>', 'how long a visitor may take to be routable: milliseconds, or a duration such as 10s', '10000')
    .option('--token-grace <delay>', 'how long a device may stay without a valid token: milliseconds, or a duration such as 30s', '30000')
    .option('--allow-weak-secret', 'accept a secret shorter than 32 bytes (an existing telebit deployment\'s)')
    .option('--cluster <url>', 'join a relay cluster on Redis: redis://host:port, redis+sentinel://h:p,h:p/MASTER or redis+cluster://h:p,h:p (see docs/cluster.md)')
    .option('--node-id <id>', 'this node\'s id in the cluster (with --cluster)')
    .option('--node-listen <host:port>', 'where other nodes forward visitors to this one (with --cluster)')
    .option('--node-advertise <host:port>', 'the address other nodes dial, when not the --node-listen one')
    .option('--node-tls', 'node-to-node connections over TLS')
    .option('--lease-ttl <duration>', 'how long a name lease lives without a heartbeat', '10s')
    .option('--lease-grace <duration>', 'how long a dropped device\'s names wait for it', '30s')
    .option('--drain-timeout <duration>', 'on SIGTERM, how long open visitors may take to finish', '30s');
  withAdminOptions(withAcmeOptions(relayCommand))
    .option('--accept-proxy-protocol <cidrs>', 'connections from these sources (CIDR[,CIDR…], e.g. a load balancer) start with a PROXY protocol header (v1 or v2) naming the visitor')
    .option('--tunnel-acme <name>', "serve the device endpoint as wss://NAME with a certificate from ACME (needs --acme-email)")
    .action(async (_flags: RelayFlags, command: Command) => {
      applyConfig(command, new Set(['listen']));
      // Not a commander default: a repeatable flag would add to it instead of replacing it.
      if (command.getOptionValue('listen') === undefined) command.setOptionValueWithSource('listen', ['127.0.0.1:8443'], 'default');
      const flags = command.opts<RelayFlags>();
      // Before anything is read or opened: the process may start again with its settings.
      const notApplied = flags.printConfig ? undefined : applyProcessSettings();
      const secret = readSecret(flags);
      const weak = checkSecretStrength(secret, flags.allowWeakSecret);
      if (Boolean(flags.tunnelCert) !== Boolean(flags.tunnelKey)) {
        throw cliError('E_USAGE', '--tunnel-cert and --tunnel-key go together');
      }
      const acme = acmeOptionsFrom(flags);
      const token = adminToken(flags);
      if (flags.tunnelAcme && !acme) throw cliError('E_USAGE', '--tunnel-acme needs --acme-email');
      if (acme && !flags.tunnelAcme) throw cliError('E_USAGE', '--acme-email on a relay needs --tunnel-acme NAME');
      if (flags.tunnelAcme && flags.tunnelCert) throw cliError('E_USAGE', '--tunnel-acme and --tunnel-cert exclude each other');
      const clusterOnly = ['nodeId', 'nodeListen', 'nodeAdvertise', 'nodeTls'] as const;
      if (!flags.cluster && clusterOnly.some((key) => flags[key] !== undefined)) {
        throw cliError('E_USAGE', '--node-id, --node-listen, --node-advertise and --node-tls go with --cluster');
      }
      if (flags.cluster && (!flags.nodeId || !flags.nodeListen)) throw cliError('E_USAGE', '--cluster needs --node-id and --node-listen');
      const tunnelTls = flags.tunnelCert
        ? readKeyPairFlags(flags.tunnelCert, flags.tunnelKey as string, '--tunnel-cert', '--tunnel-key')
        : undefined;
      const options: RelayOptions = {
        listen: flags.listen ?? '127.0.0.1:8443',
        tunnel: flags.tunnel,
        secret,
        allowWeakSecret: flags.allowWeakSecret,
        tcpPorts: flags.tcpPorts,
        udpPorts: flags.udpPorts,
        portHost: flags.portHost,
        tunnelTls,
        tunnelAcme: acme && flags.tunnelAcme ? { ...acme, name: flags.tunnelAcme } : undefined,
        sniffTimeout: milliseconds(flags.sniffTimeout, '--sniff-timeout'),
        tokenGrace: milliseconds(flags.tokenGrace, '--token-grace'),
        acceptProxyProtocol: flags.acceptProxyProtocol,
        metrics: flags.admin !== undefined,
        cluster: flags.cluster
          ? {
              url: flags.cluster,
              nodeId: flags.nodeId as string,
              nodeListen: flags.nodeListen as string,
              nodeAdvertise: flags.nodeAdvertise,
              // Made for a start only: --print-config checks, and keeps no key.
              nodeTls: flags.nodeTls && !flags.printConfig ? (tunnelTls ?? (await nodeCertificate(flags.nodeId as string))) : false,
              leaseTtl: duration(flags.leaseTtl, '--lease-ttl'),
              leaseGrace: duration(flags.leaseGrace, '--lease-grace', true),
              drainTimeout: duration(flags.drainTimeout, '--drain-timeout', true),
            }
          : undefined,
      };
      if (flags.printConfig) {
        checkRelayConfig(options);
        // The cluster URL too when it holds a password: it is a secret then.
        const secrets = ['secret', ...(flags.cluster && redactUrl(flags.cluster) !== flags.cluster ? ['cluster'] : [])];
        process.stdout.write(printConfig(command, new Set(secrets)));
        return;
      }
      const log = createCliLogger(flags);
      logProcessSettings(log, notApplied);
      if (weak) log.warn({ code: 'E_WEAK_SECRET' }, weak);
      const relay = await createRelay({ ...options, logger: log }).catch((error: unknown) => {
        throw namingTheFlag(error);
      });
      const admin = await startAdmin(flags, token, { relay }, log).catch(async (error: unknown) => {
        await relay.close();
        throw error;
      });
      // A cluster node drains on SIGTERM (what systemd and orchestrators send); Ctrl-C stops at once.
      let signalled = '';
      await runUntilSignal(
        async () => {
          await admin?.close();
          await (signalled === 'SIGTERM' && flags.cluster ? relay.drain() : relay.close());
        },
        (signal) => {
          signalled = signal;
          log.info({ signal }, 'stopping');
        },
      );
    });
}

/**
 * The node-to-node endpoint's certificate when the relay has none of its own: self-signed will
 * do, since nodes prove themselves with the secret bound to the TLS session, not with a CA.
 */
async function nodeCertificate(nodeId: string): Promise<{ key: string; cert: string }> {
  // Loaded here: selfsigned and its node-forge cost every relay megabytes of heap.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: `mproxy-node-${nodeId}` }], { keySize: 2048 });
  return { key: pems.private, cert: pems.cert };
}

function duration(text: string, flag: string, allowZero = false): number {
  try {
    return parseMilliseconds(text, flag, allowZero);
  } catch (error) {
    throw cliError('E_USAGE', (error as Error).message);
  }
}

/** A delay in milliseconds: a bare number of them, or a duration with its unit (`10s`, `500ms`). */
function milliseconds(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : /^\d+(ms|s|m|h)$/i.test(text.trim()) ? duration(text, flag) : Number.NaN;
  if (!(value > 0 && value <= MAX_TIMER)) {
    throw cliError('E_USAGE', `${flag} ${text} is not a positive number of milliseconds up to ${MAX_TIMER}, or a duration such as 10s`);
  }
  return value;
}
