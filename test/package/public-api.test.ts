/**
 * The package as a library user sees it: the shipped declarations hold no internals, the root
 * export is the API that docs/reactive.md lists, `mproxy/transport` carries what a transport of
 * one's own needs, `import 'mproxy'` loads none of the CLI's modules, and a tunnel's clients
 * cannot be changed from outside. Needs `npm run build` first (done by `npm test`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createTunnel, memoryPair, type Client, type Tunnel } from '../../src/index.js';

const require = createRequire(import.meta.url);
const dist = (file: string): string => readFileSync(new URL(`../../dist/${file}`, import.meta.url), 'utf8');

/** Every chunk a built entry imports, followed from the entry itself. */
function closure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, spec] of dist(file).matchAll(/(?:from\s+|require\(\s*)["']\.\/([^"']+)["']/g)) {
      // A declaration names its neighbour by the module it describes: x.js → x.d.ts, x.cjs → x.d.cts.
      if (file.endsWith('.d.ts')) visit((spec as string).replace(/\.js$/, '.d.ts'));
      else if (file.endsWith('.d.cts')) visit((spec as string).replace(/\.c?js$/, '.d.cts'));
      else visit(spec as string);
    }
  };
  visit(entry);
  return [...seen];
}

describe('the public API', () => {
  it('ships declarations without the tunnel internals', () => {
    for (const file of ['index.d.ts', 'index.d.cts']) {
      const types = closure(file)
        .map(dist)
        .join('\n');
      for (const name of ['ClientHost', 'watchWritable', 'stopProducing', 'reserveRoom', 'releaseRoom', 'remoteEnded', 'MproxyClient', '@internal']) {
        expect(types, `${file} mentions ${name}`).not.toContain(name);
      }
    }
  });

  it('lists in docs/reactive.md every value the root exports', async () => {
    const api = readFileSync(new URL('../../docs/reactive.md', import.meta.url), 'utf8');
    const section = api.slice(api.indexOf('## API'));
    const root = Object.keys(await import('mproxy'));
    // A ceiling, not a target: the root held 86 values when internals leaked into it. The relay
    // cluster and the operations exports (metrics, admin, PROXY protocol) brought it to 71.
    expect(root.length).toBeLessThanOrEqual(71);
    for (const name of root) expect(section, `docs/reactive.md "API" lists ${name}`).toContain(`\`${name}\``);
  });

  it('keeps the building blocks of a transport in mproxy/transport', async () => {
    const root = await import('mproxy');
    const transport = await import('mproxy/transport');
    expect(Object.keys(transport).sort()).toEqual(['DEFAULT_HIGH_WATER_MARK', 'DEFAULT_LOW_WATER_MARK', 'TransportBase', 'TransportError']);
    expect(root).not.toHaveProperty('TransportBase');
    expect(root).not.toHaveProperty('WriteFlow');
    expect(root).not.toHaveProperty('IncomingQueue');
    expect(root).not.toHaveProperty('clientMetaOf');
    expect(root).not.toHaveProperty('SIGNAL_KINDS');
    expect(typeof (require('mproxy/transport') as { TransportBase: unknown }).TransportBase).toBe('function');
  });

  it('loads acme-client (and its axios) only when a certificate is ordered', async () => {
    const { execFileSync } = await import('node:child_process');
    for (const entry of ['index.js', 'index.cjs']) {
      const url = new URL(`../../dist/${entry}`, import.meta.url).href;
      const loaded = execFileSync(process.execPath, ['-e', `import(${JSON.stringify(url)}).then(() => console.log(Object.keys(require.cache).filter((k) => /node_modules.(acme-client|axios|node-forge|selfsigned)/.test(k)).length))`], { encoding: 'utf8' });
      expect(loaded.trim(), `modules loaded by importing ${entry}`).toBe('0');
    }
    const { loadAcme } = await import('../../src/tls/acme-http.js');
    const { LETS_ENCRYPT, LETS_ENCRYPT_STAGING } = await import('../../src/tls/acme.js');
    const acme = await loadAcme();
    expect([LETS_ENCRYPT, LETS_ENCRYPT_STAGING]).toEqual([acme.directory.letsencrypt.production, acme.directory.letsencrypt.staging]);
  });

  it('loads none of the CLI modules with the library', async () => {
    const { execFileSync } = await import('node:child_process');
    for (const entry of ['index.js', 'index.cjs']) {
      const files = closure(entry);
      // The entry and the chunks it shares with the CLI, followed through import and require alike.
      expect(files.length, `${entry} and its chunks`).toBeGreaterThan(1);
      const code = files.map(dist).join('\n');
      for (const module of ['commander', 'pino', 'pino-pretty', 'selfsigned']) {
        expect(code, `${entry} imports ${module}`).not.toMatch(new RegExp(`(from|require\\()\\s*["']${module}["']`));
      }
      // And as Node loads it: none of them in the module cache (all four are CommonJS).
      const url = new URL(`../../dist/${entry}`, import.meta.url).href;
      const loaded = execFileSync(
        process.execPath,
        ['-e', `import(${JSON.stringify(url)}).then(() => console.log(Object.keys(require.cache).filter((k) => /node_modules.(commander|pino|pino-pretty|selfsigned)\\//.test(k)).join(',')))`],
        { encoding: 'utf8' },
      );
      expect(loaded.trim(), `modules loaded by importing ${entry}`).toBe('');
    }
  });

  it('loads ioredis and prom-client only when a cluster connects or metrics are kept', async () => {
    const { execFileSync } = await import('node:child_process');
    for (const entry of ['index.js', 'index.cjs']) {
      const url = new URL(`../../dist/${entry}`, import.meta.url).href;
      const cached = "Object.keys(require.cache).filter((k) => /node_modules.(ioredis|prom-client)\\//.test(k)).map((k) => /node_modules.([^/]+)/.exec(k)[1])";
      const script = `import(${JSON.stringify(url)}).then((m) => { const before = [...new Set(${cached})]; new m.TunnelMetrics(); console.log(JSON.stringify([before, [...new Set(${cached})]])); })`;
      const [before, after] = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as [string[], string[]];
      expect(before, `loaded by importing ${entry}`).toEqual([]);
      expect(after, `loaded by new TunnelMetrics() from ${entry}`).toEqual(['prom-client']);
    }
  });
});

describe('tunnel.clients', () => {
  it('is a read-only view by its type', () => {
    expectTypeOf<Tunnel['clients']>().toEqualTypeOf<ReadonlyMap<string, Client>>();
    expectTypeOf<Tunnel['clients']>().not.toHaveProperty('set');
    expectTypeOf<Tunnel['clients']>().not.toHaveProperty('delete');
  });

  it('cannot be changed by a caller at run time, and follows the tunnel', () => {
    const [a, b] = memoryPair();
    const tunnel = createTunnel(a);
    createTunnel(b).clients$.subscribe();
    const client = tunnel.open({ family: 'IPv4', address: '192.0.2.1', port: 1 });
    const view = tunnel.clients as unknown as Map<string, Client>;
    expect(view.get(client.id)).toBe(client);
    expect(view.size).toBe(1);
    expect(typeof view.set).toBe('undefined');
    expect(typeof view.delete).toBe('undefined');
    expect(typeof view.clear).toBe('undefined');
    expect(() => view.set('x', client)).toThrow(TypeError);
    expect([...tunnel.clients.keys()]).toEqual([client.id]);
    client.destroy();
    expect(tunnel.clients.size).toBe(0);
    tunnel.destroy();
  });
});
