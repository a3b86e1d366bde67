import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { grantedPorts, parsePortRanges, PortPolicy } from '../../src/auth/index.js';

describe('parsePortRanges', () => {
  it('parses single ports and inclusive ranges, sorted and merged', () => {
    expect(parsePortRanges('5000-5100,6000')).toEqual([
      { from: 5000, to: 5100 },
      { from: 6000, to: 6000 },
    ]);
    expect(parsePortRanges(' 6000 , 5000 - 5100 ')).toEqual([
      { from: 5000, to: 5100 },
      { from: 6000, to: 6000 },
    ]);
    expect(parsePortRanges('10-20,15-30,31,40,1-1')).toEqual([
      { from: 1, to: 1 },
      { from: 10, to: 31 },
      { from: 40, to: 40 },
    ]);
    expect(parsePortRanges('1-65535')).toEqual([{ from: 1, to: 65535 }]);
  });

  it('reads an empty or blank text as no ports', () => {
    expect(parsePortRanges('')).toEqual([]);
    expect(parsePortRanges('   ')).toEqual([]);
  });

  it.each(['0', '65536', '1-65536', '5100-5000', '1,,2', '1,', ',1', 'a', '1-', '-1', '1-2-3', '+80', '8e3', '80.0', '99999999'])(
    'refuses %j with E_INVALID_OPTION naming the option',
    (text) => {
      expect(() => parsePortRanges(text, 'tcpPorts')).toThrow(InvalidOptionError);
      expect(() => parsePortRanges(text, 'tcpPorts')).toThrow(/tcpPorts/);
    },
  );
});

describe('PortPolicy', () => {
  it('allows a port only for the kind whose ranges hold it', () => {
    const policy = new PortPolicy({ tcpPorts: '5000-5100,6000', udpPorts: '6000-6010' });
    expect(policy.allows('tcp', 5000)).toBe(true);
    expect(policy.allows('tcp', 5100)).toBe(true);
    expect(policy.allows('tcp', 5101)).toBe(false);
    expect(policy.allows('tcp', 4999)).toBe(false);
    expect(policy.allows('udp', 5050)).toBe(false);
    expect(policy.allows('udp', 6010)).toBe(true);
    expect(policy.allows('tcp', 6000) && policy.allows('udp', 6000)).toBe(true);
  });

  it('allows nothing when no ranges are configured', () => {
    const policy = new PortPolicy();
    expect(policy.allows('tcp', 22)).toBe(false);
    expect(policy.allows('udp', 53)).toBe(false);
  });

  it('validates its options when built', () => {
    expect(() => new PortPolicy({ udpPorts: '53-1' })).toThrow(/udpPorts/);
  });
});

describe('grantedPorts', () => {
  it('gives each claimed port for TCP and UDP where the policy allows, and refuses the rest', () => {
    const policy = new PortPolicy({ tcpPorts: '5000-5100,6000', udpPorts: '6000,7000' });
    expect(grantedPorts({ ports: [5050, 6000, 7000, 22] }, policy)).toEqual({ tcp: [5050, 6000], udp: [6000, 7000], refused: [22] });
    expect(grantedPorts({ ports: [] }, policy)).toEqual({ tcp: [], udp: [], refused: [] });
    expect(grantedPorts({ ports: [22, 443] }, new PortPolicy())).toEqual({ tcp: [], udp: [], refused: [22, 443] });
  });
});
