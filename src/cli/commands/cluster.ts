import type { Command } from 'commander';
import { readClusterStatus, type ClusterStatus } from '../../cluster/status.js';
import { cliError } from '../fail.js';

interface StatusFlags {
  cluster?: string;
  json?: boolean;
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('look at a relay cluster (see docs/cluster.md)');
  cluster
    .command('status')
    .description('print the nodes of a cluster, and every name and port with the node that holds it')
    .option('--cluster <url>', 'the cluster\'s Redis: redis://host:port, redis+sentinel://h:p,h:p/MASTER or redis+cluster://h:p,h:p')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: StatusFlags) => {
      if (!flags.cluster) throw cliError('E_USAGE', 'give the cluster: --cluster redis://host:port');
      const status = await readClusterStatus(flags.cluster);
      process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : table(status));
    });
}

function table(status: ClusterStatus): string {
  const lines: string[] = [];
  const render = (rows: string[][]): void => {
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
    for (const row of rows) lines.push(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  };
  render([
    ['NODE', 'ADDRESS', 'TLS', 'STATE', 'TTL'],
    ...status.nodes.map((node) => [node.id, node.address, node.tls ? 'yes' : 'no', node.draining ? 'draining' : 'up', seconds(node.ttl)]),
  ]);
  lines.push('');
  render([
    ['KIND', 'NAME/PORT', 'HOLDER', 'STATE', 'EPOCH', 'TTL'],
    ...status.leases.map((lease) => [lease.kind, lease.what, lease.node, lease.state, String(lease.epoch), seconds(lease.ttl)]),
  ]);
  return `${lines.join('\n')}\n`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
