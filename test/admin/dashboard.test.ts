import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createAdminServer, issueToken } from '../../src/index.js';
import { CHROMIUM } from '../support/ensure-chromium.js';
import { SECRET, defer, echoServer, freePort, startDevice, startRelay, until } from '../support/index.js';
import { scrape, valueOf } from './helpers.js';

describe('the dashboard', () => {
  it('shows a connected device and its throughput rising in headless Chromium, with the numbers of /metrics', async () => {
    const port = await freePort('tcp');
    const relay = await startRelay({ tcpPorts: String(port), metrics: true });
    const admin = await createAdminServer({ listen: '127.0.0.1:0', relay, eventInterval: 200 });
    defer(() => admin.close());
    const echo = await echoServer();
    const token = await issueToken(SECRET, { ports: [port], sub: 'edge-1' });
    await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${echo.port}`] });
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    defer(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`${admin.url}/`);
    await page.locator('#devices [data-device="edge-1"]').waitFor({ timeout: 10_000 });

    // A visitor streaming through the tunnel, paced so that the transfer lasts while the page is read.
    const visitor = net.connect({ host: '127.0.0.1', port });
    defer(() => void visitor.destroy());
    visitor.on('data', () => undefined);
    await once(visitor, 'connect');
    let streaming = true;
    const chunk = Buffer.alloc(32 * 1024, 7);
    const pump = (async () => {
      while (streaming) {
        if (!visitor.write(chunk)) await once(visitor, 'drain');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const cell = (field: string): string => `#names td[data-name="tcp:${port}"][data-field="${field}"]`;
    const number = async (field: string): Promise<number> => Number(await page.locator(cell(field)).textContent({ timeout: 10_000 }));
    // Run in the page: the number a cell shows, compared.
    type Page = { document: { querySelector(selector: string): { textContent: string | null } | null } };
    const shows = (field: string, op: '>' | '===', than: number): Promise<unknown> =>
      page.waitForFunction(
        ([selector, op, than]) => {
          const value = Number((globalThis as unknown as Page).document.querySelector(selector)?.textContent);
          return op === '>' ? value > than : value === than;
        },
        [cell(field), op, than] as const,
        { timeout: 10_000 },
      );
    await shows('rateOut', '>', 0);
    const first = await number('bytesOut');
    await shows('bytesOut', '>', first);
    expect(await number('clients')).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), 'mproxy-dashboard-'));
    const screenshot = join(dir, 'dashboard.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG');

    // Once the transfer is over, the page settles on the figures /metrics gives.
    streaming = false;
    await pump;
    visitor.end();
    await once(visitor, 'close');
    await until(() => relay.clientCount === 0, 'the client closed');
    const samples = await scrape(admin.url);
    const labels = { device: 'edge-1', name: `tcp:${port}` };
    const sent = valueOf(samples, 'mproxy_bytes_out_total', labels);
    expect(sent).toBe(echo.received());
    await shows('bytesOut', '===', sent);
    // The echo's last bytes may reach the page an update after the visitor's last ones.
    await shows('bytesIn', '===', valueOf(samples, 'mproxy_bytes_in_total', labels));
    // So may the client's close: the page counts it at its next update.
    expect(valueOf(samples, 'mproxy_clients_open', labels)).toBe(0);
    await shows('clients', '===', 0);
  });
});
