import { describe, expect, it } from 'vitest';
import { MproxyError } from '../../src/codec/errors.js';
import { ControlError } from '../../src/control/index.js';
import { notice, parseControlMessage, request, response } from '../../src/control/messages.js';

describe('parseControlMessage', () => {
  it.each([
    [[1, 'hello', [1], ['add_token']], { kind: 'request', id: 1, command: 'hello', args: [[1], ['add_token']] }],
    [[42, 'delete_token', '*'], { kind: 'request', id: 42, command: 'delete_token', args: ['*'] }],
    [[3, 'ping'], { kind: 'request', id: 3, command: 'ping', args: [] }],
    [[-1, null], { kind: 'response', id: 1, error: null }],
    [[-2, null, { ok: true }], { kind: 'response', id: 2, error: null, result: { ok: true } }],
    [[-2, null, null], { kind: 'response', id: 2, error: null, result: null }],
    [[-5, { message: 'bad token', code: 'E_TOKEN_INVALID' }], { kind: 'response', id: 5, error: { message: 'bad token', code: 'E_TOKEN_INVALID' } }],
    [[-5, {}], { kind: 'response', id: 5, error: { message: '{}', code: 'E_UNKNOWN_ERR' } }],
    [[-5, { message: 'm', code: '' }], { kind: 'response', id: 5, error: { message: 'm', code: 'E_UNKNOWN_ERR' } }],
    [[0, { message: 'out of band', code: 'E_X' }], { kind: 'notice', error: { message: 'out of band', code: 'E_X' } }],
    [[0, {}], { kind: 'notice', error: { message: '{}', code: 'E_UNKNOWN_ERR' } }],
  ])('should read %j', (value, expected) => {
    expect(parseControlMessage(value)).toEqual(expected);
  });

  it.each([
    ['a string', 'not json', {}],
    ['an object', { id: 1 }, {}],
    ['null', null, {}],
    ['an empty array', [], {}],
    ['a fractional id', [1.5, 'x'], {}],
    ['a string id', ['1', 'hello'], {}],
    ['an unsafe id', [2 ** 53, 'x'], {}],
    ['a request without command', [5], { replyTo: 5 }],
    ['a request whose command is a number', [5, 42], { replyTo: 5 }],
    ['a request whose command is empty', [5, ''], { replyTo: 5 }],
    ['a response whose error is a string (the README form)', [-1, '[Error] bad hello'], { answers: 1 }],
    ['a response whose error is an array', [-1, []], { answers: 1 }],
    ['a response with no error element', [-1], { answers: 1 }],
    ['a response with 4 elements', [-1, null, 1, 2], { answers: 1 }],
    ['a notice whose error is a string', [0, '[Error] out-of-band error message'], {}],
    ['a notice whose error is null', [0, null], {}],
    ['a notice with 3 elements', [0, {}, 1], {}],
  ])('should reject %s', (_name, value, ids) => {
    const parsed = parseControlMessage(value);
    expect(parsed).toEqual({ kind: 'malformed', reason: expect.any(String), value, ...ids });
    if (!('replyTo' in ids)) expect(parsed).not.toHaveProperty('replyTo');
    if (!('answers' in ids)) expect(parsed).not.toHaveProperty('answers');
  });
});

describe('control message builders', () => {
  it('should build requests, and round-trip them through JSON and the parser', () => {
    const wire = request(7, 'add_token', 'a.b.c');
    expect(wire).toEqual([7, 'add_token', 'a.b.c']);
    expect(parseControlMessage(JSON.parse(JSON.stringify(wire)))).toEqual({ kind: 'request', id: 7, command: 'add_token', args: ['a.b.c'] });
  });

  it('should build responses, leaving out an undefined result', () => {
    expect(response(1, null)).toEqual([-1, null]);
    expect(JSON.stringify(response(1, null))).toBe('[-1,null]');
    expect(response(2, null, 0)).toEqual([-2, null, 0]);
    expect(response(2, null, null)).toEqual([-2, null, null]);
    expect(response(3, { message: 'no', code: 'E_NO' })).toEqual([-3, { message: 'no', code: 'E_NO' }]);
  });

  it("should keep an Error's message and code, which JSON alone would lose", () => {
    const error = new MproxyError('E_TOKEN_INVALID', 'bad signature');
    expect(JSON.stringify(response(4, error))).toBe('[-4,{"message":"bad signature","code":"E_TOKEN_INVALID"}]');
    expect(JSON.stringify(notice(error))).toBe('[0,{"message":"bad signature","code":"E_TOKEN_INVALID"}]');
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 53])('should refuse the id %s with E_BAD_COMMAND', (id) => {
    expect(() => request(id, 'x')).toThrow(ControlError);
    expect(() => request(id, 'x')).toThrow(expect.objectContaining({ code: 'E_BAD_COMMAND' }));
    expect(() => response(id, null)).toThrow(expect.objectContaining({ code: 'E_BAD_COMMAND' }));
  });

  it('should refuse an empty command with E_BAD_COMMAND', () => {
    expect(() => request(1, '')).toThrow(expect.objectContaining({ code: 'E_BAD_COMMAND' }));
  });
});
