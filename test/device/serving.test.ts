import { describe, expect, it } from 'vitest';
import { parseForward } from '../../src/device/forwards.js';
import { addGrantPush, emptyGranted, reportForwards } from '../../src/device/serving.js';

/** What the relay granted, as its `grant` push says it. */
function granted(names: string[], tcp: number[] = []) {
  const g = emptyGranted();
  addGrantPush(g, [...names.map((name) => ['https', name]), ['tcp', 'ports', tcp]]);
  return g;
}

const lines = (specs: string[], g: ReturnType<typeof granted>) =>
  reportForwards(specs.map(parseForward), g, [{ domains: [], ports: [] }], 'relay.example.com').map((r) => (r.served ? r.line : `${r.line} (${r.code})`));

describe('reportForwards: names', () => {
  it('serves an exact name the relay granted, or one a granted wildcard covers', () => {
    expect(lines(['http:app.localhost=3000', 'https:a.b.localhost=3001'], granted(['app.localhost', '*.b.localhost']))).toEqual([
      'serving http://app.localhost → 127.0.0.1:3000',
      'serving https://a.b.localhost → 127.0.0.1:3001',
    ]);
  });

  it('shows what a name the device terminates is sent to: http:// or tcp://', () => {
    expect(lines(['https:a.localhost=http://127.0.0.1:3000', 'https:b.localhost=tcp://127.0.0.1:3001', 'https:c.localhost=3002'], granted(['*.localhost']))).toEqual([
      'serving https://a.localhost → http://127.0.0.1:3000',
      'serving https://b.localhost → tcp://127.0.0.1:3001',
      'serving https://c.localhost → 127.0.0.1:3002',
    ]);
  });

  it('serves a wildcard forward for the granted names it covers, and says which', () => {
    expect(lines(['http:*.localhost=3000'], granted(['other.localhost']))).toEqual(['serving http://*.localhost → 127.0.0.1:3000 (for other.localhost)']);
    expect(lines(['http:*.localhost=3000'], granted(['a.localhost', 'b.localhost', 'x.example.com']))).toEqual([
      'serving http://*.localhost → 127.0.0.1:3000 (for a.localhost and b.localhost)',
    ]);
    expect(lines(['http:*.localhost=3000'], granted(['a.localhost', 'b.localhost', 'c.localhost', 'd.localhost', 'e.localhost']))).toEqual([
      'serving http://*.localhost → 127.0.0.1:3000 (for a.localhost, b.localhost, c.localhost and 2 more)',
    ]);
  });

  it('says a name no grant covers gets no visitors, wildcard or not', () => {
    expect(lines(['http:*.localhost=3000', 'http:app.localhost=3001'], granted(['x.example.com']))).toEqual([
      'http://*.localhost → 127.0.0.1:3000 gets no visitors: no token of this device grants the name *.localhost (E_NOT_GRANTED)',
      'http://app.localhost → 127.0.0.1:3001 gets no visitors: no token of this device grants the name app.localhost (E_NOT_GRANTED)',
    ]);
  });
});
