import { Observable, map, mergeMap } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  RemoteError,
  TunnelError,
  createTunnel,
  decodeErrorBody,
  encodeErrorBody,
  type Client,
  type TunnelOptions,
} from '../../src/index.js';
import { A, B, ID_A, ID_B, bytes, marbles, scriptedTransport, seen, testScheduler, text } from './helpers.js';

const wire = {
  c: bytes({ kind: 'connection', ...A }),
  d: bytes({ kind: 'data', ...A, data: text('hello') }),
  e: bytes({ kind: 'end', ...A }),
  x: bytes({ kind: 'error', ...A, data: encodeErrorBody({ message: 'refused', code: 'ECONNREFUSED' }) }),
  p: bytes({ kind: 'pause', ...A }),
  r: bytes({ kind: 'resume', ...A }),
  b: bytes({ kind: 'data', ...B, data: text('bee') }),
  f: bytes({ kind: 'end', ...B }),
  k: bytes({ kind: 'control', data: text('[1,"hello",[1],["add_token"]]') }),
  g: bytes({ kind: 'control', data: text('not json') }),
};

const asText = (chunk: Uint8Array): string => Buffer.from(chunk).toString();

/** Every client's inbound bytes as `id:text`, and completions as `id:end`. */
function inbound(clients$: Observable<Client>): Observable<string> {
  return clients$.pipe(
    mergeMap((client) =>
      client.data$.pipe(
        map((chunk) => `${client.id}:${asText(chunk)}`),
        (data$) =>
          new Observable<string>((subscriber) =>
            data$.subscribe({
              next: (v) => subscriber.next(v),
              complete: () => {
                subscriber.next(`${client.id}:end`);
                subscriber.complete();
              },
              error: (e: { code?: string }) => {
                subscriber.next(`${client.id}:error ${e.code}`);
                subscriber.complete();
              },
            }),
          ),
      ),
    ),
  );
}

describe('createTunnel (marbles)', () => {
  it('should open a client on connection, deliver its data, and complete it on end', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const incoming = hot('-c-d-e-|', wire);
      const { transport } = scriptedTransport(incoming);
      const tunnel = createTunnel(transport);
      expectObservable(tunnel.clients$.pipe(map((c) => `${c.id} ${c.meta.service}:${c.meta.serviceport} ${c.meta.name}`))).toBe(
        '-x-----|',
        { x: `${ID_A} https:443 a.example` },
      );
      expectObservable(inbound(tunnel.clients$)).toBe('---d-e-|', { d: `${ID_A}:hello`, e: `${ID_A}:end` });
      expectSubscriptions(incoming.subscriptions).toBe('^------!');
    });
  });

  it('should keep interleaved clients apart', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const { transport } = scriptedTransport(hot('-c-b-d-f-e-|', wire));
      const tunnel = createTunnel(transport);
      expectObservable(inbound(tunnel.clients$)).toBe('---b-d-f-e-|', {
        b: `${ID_B}:bee`,
        d: `${ID_A}:hello`,
        f: `${ID_B}:end`,
        e: `${ID_A}:end`,
      });
    });
  });

  it('should decode a frame split across transport chunks', () => {
    const whole = Buffer.concat([wire.c, wire.d]);
    testScheduler().run(({ hot, expectObservable }) => {
      const { transport } = scriptedTransport(
        hot('-1-2-3-|', { 1: whole.subarray(0, 5), 2: whole.subarray(5, wire.c.length + 7), 3: whole.subarray(wire.c.length + 7) }),
      );
      const tunnel = createTunnel(transport);
      expectObservable(inbound(tunnel.clients$)).toBe('-----d-(t|)', { d: `${ID_A}:hello`, t: `${ID_A}:error E_TUNNEL_CLOSED` });
    });
  });

  it('should error the client with the remote code on an error frame', () => {
    let failure: unknown;
    testScheduler().run(({ hot }) => {
      const { transport } = scriptedTransport(hot('-c-x-', wire));
      createTunnel(transport).clients$.subscribe((client) => client.data$.subscribe({ error: (e: unknown) => (failure = e) }));
    });
    expect(failure).toBeInstanceOf(RemoteError);
    expect(failure).toMatchObject({ code: 'ECONNREFUSED', message: 'refused', clientId: ID_A });
  });

  it('should turn a remote pause into remotePaused$, write() false, and drain$ on resume', () => {
    marbles(({ hot, expectObservable }) => {
      const { transport } = scriptedTransport(hot('-c-p-r-', wire));
      const tunnel = createTunnel(transport);
      const writes: boolean[] = [];
      let client: Client | undefined;
      tunnel.clients$.subscribe((c) => (client = c));
      const paused$ = tunnel.clients$.pipe(mergeMap((c) => c.remotePaused$));
      const drained$ = tunnel.clients$.pipe(mergeMap((c) => c.drain$.pipe(map(() => 'drain'))));
      expectObservable(paused$).toBe('-f-t-f-', { f: false, t: true });
      expectObservable(drained$).toBe('-----d-', { d: 'drain' });
      hot('--w-w-w').subscribe(() => writes.push(client?.write(text('x')) ?? true));
      // Written before the pause, while paused (still sent), after the resume.
      return () => expect(writes).toEqual([true, false, true]);
    });
  });

  it('should take credit from a client that writes into a congestion until its bytes leave at the drain', () => {
    testScheduler().run(({ hot, cold, expectObservable }) => {
      const { transport, congested, written } = scriptedTransport(hot('-c--------', wire));
      const tunnel = createTunnel(transport);
      let client: Client | undefined;
      tunnel.clients$.subscribe((c) => (client = c));
      cold('---t---f--', { t: true, f: false }).subscribe(congested);
      cold('-----w----').subscribe(() => client?.write(text('held')));
      const sent$ = cold('-----1-2--').pipe(map(() => written.filter((f) => f.kind === 'data').length));
      expectObservable(sent$).toBe('-----1-2--', { 1: 0, 2: 1 });
      // Writable until it writes (a congestion alone takes no credit), then again at the drain.
      expectObservable(tunnel.clients$.pipe(mergeMap((c) => c.writable$))).toBe('-w---n-w--', { w: true, n: false });
    });
  });

  it('should pause a client whose bytes pile up unconsumed, and resume once they are taken', () => {
    const options: TunnelOptions = { highWaterMark: 8, lowWaterMark: 4, maxClientBuffer: 64 };
    testScheduler().run(({ hot, cold, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-c-d-d-b-', wire));
      const tunnel = createTunnel(transport, options);
      let client: Client | undefined;
      tunnel.clients$.subscribe((c) => (client = c));
      // Nobody reads client A until frame 7; client B is read at once.
      cold('-------s').subscribe(() => client?.data$.subscribe());
      tunnel.clients$.subscribe((c) => c.id === ID_B && c.data$.subscribe());
      const kinds$ = cold('--1-2-3-4').pipe(map(() => written.map((f) => `${f.kind}`).join(',')));
      expectObservable(kinds$).toBe('--1-2-3-4', { 1: '', 2: '', 3: 'pause', 4: 'pause,resume' });
    });
  });

  it('should destroy a client whose remote ignores pause past maxClientBuffer, and keep the others', () => {
    const options: TunnelOptions = { highWaterMark: 4, lowWaterMark: 2, maxClientBuffer: 12 };
    let failure: unknown;
    marbles(({ hot, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-c-d-d-d-b-', wire));
      const tunnel = createTunnel(transport, options);
      tunnel.clients$.subscribe((c) => {
        if (c.id === ID_A) c.closed$.subscribe((closed) => (failure = closed.error));
      });
      expectObservable(tunnel.clients$.pipe(mergeMap((c) => (c.id === ID_B ? c.data$.pipe(map(asText)) : [])))).toBe(
        '---------b-',
        { b: 'bee' },
      );
      return () => {
        const sent = written.map(seen);
        expect(sent.map((f) => f.kind)).toEqual(['pause', 'error']);
        expect(decodeErrorBody(text(sent[1]?.data ?? '')).code).toBe('E_CLIENT_BUFFER_OVERFLOW');
      };
    });
    expect(failure).toBeInstanceOf(TunnelError);
    expect(failure).toMatchObject({ code: 'E_CLIENT_BUFFER_OVERFLOW' });
  });

  it('should fail every client with E_TUNNEL_CLOSED when the transport errors', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const { transport } = scriptedTransport(hot('-c-b-#', wire, new Error('reset')));
      const tunnel = createTunnel(transport);
      expectObservable(inbound(tunnel.clients$)).toBe('---b-(xy|)', {
        b: `${ID_B}:bee`,
        x: `${ID_A}:error E_TUNNEL_CLOSED`,
        y: `${ID_B}:error E_TUNNEL_CLOSED`,
      });
      expectObservable(tunnel.closed$.pipe(map((c) => c.error?.message))).toBe('-----(e|)', { e: 'reset' });
      expectObservable(tunnel.state$).toBe('o----(c|)', { o: 'open', c: 'closed' });
    });
  });

  it('should end its clients, unsubscribe and close the transport on close(), leaving nothing behind', () => {
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const incoming = hot('-c-b-----', wire);
      const { transport, written, state } = scriptedTransport(incoming);
      const tunnel = createTunnel(transport);
      expectObservable(inbound(tunnel.clients$)).toBe('---b-(xy|)', {
        b: `${ID_B}:bee`,
        x: `${ID_A}:end`,
        y: `${ID_B}:end`,
      });
      cold('-----c').subscribe(() => tunnel.close());
      expectSubscriptions(incoming.subscriptions).toBe('^----!');
      return () => {
        expect(written.map((f) => `${f.kind} ${f.id}`)).toEqual([`end ${ID_A}`, `end ${ID_B}`]);
        expect(state.closedCleanly).toBe(true);
        expect(tunnel.clients.size).toBe(0);
      };
    });
  });

  it('should forget a client once both sides ended, and drop late data for it', () => {
    testScheduler().run(({ hot, cold, expectObservable }) => {
      const { transport } = scriptedTransport(hot('-c-e---d-', wire));
      const tunnel = createTunnel(transport);
      tunnel.clients$.subscribe((c) => {
        c.data$.subscribe();
        cold('----z').subscribe(() => c.end());
      });
      expectObservable(cold('--1-2-3-4').pipe(map(() => tunnel.clients.size))).toBe('--1-2-3-4', { 1: 1, 2: 1, 3: 0, 4: 0 });
    });
  });

  it('should ignore end, pause and resume for unknown ids', () => {
    marbles(({ hot, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-e-p-r-|', wire));
      const tunnel = createTunnel(transport);
      expectObservable(tunnel.clients$).toBe('-------|');
      return () => expect(written).toEqual([]);
    });
  });

  it('should answer data for an unknown id with E_NO_CONN when told to reject it', () => {
    marbles(({ hot, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-d-|', wire));
      const tunnel = createTunnel(transport, { unknownData: 'reject' });
      expectObservable(tunnel.clients$).toBe('---|');
      return () => {
        expect(written.map((f) => `${f.kind} ${f.id} ${decodeErrorBody(f.data).code}`)).toEqual([`error ${ID_A} E_NO_CONN`]);
      };
    });
  });

  it('should refuse an unknown id once, however many data frames it sends', () => {
    marbles(({ hot, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-d-d-d-|', wire));
      const tunnel = createTunnel(transport, { unknownData: 'reject' });
      expectObservable(tunnel.clients$).toBe('-------|');
      return () => expect(written.map((f) => `${f.kind} ${f.id} ${decodeErrorBody(f.data).code}`)).toEqual([`error ${ID_A} E_NO_CONN`]);
    });
  });

  it('should refuse clients with E_NOT_ACCEPTING while nobody subscribes to clients$', () => {
    marbles(({ hot }) => {
      const { transport, written } = scriptedTransport(hot('-c-|', wire));
      createTunnel(transport);
      return () => expect(written.map((f) => decodeErrorBody(f.data).code)).toEqual(['E_NOT_ACCEPTING']);
    });
  });

  it('should open a client toward the remote and route its replies', () => {
    marbles(({ hot, cold, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('---d-e-', wire));
      const tunnel = createTunnel(transport);
      let client: Client | undefined;
      cold('-o').subscribe(() => {
        client = tunnel.open(A);
      });
      expectObservable(cold('--(s|)').pipe(mergeMap(() => client?.data$.pipe(map(asText)) ?? []))).toBe('---d-|', { d: 'hello' });
      return () => {
        expect(written.map((f) => `${f.kind} ${f.id}`)).toEqual([`connection ${ID_A}`]);
        expect(() => tunnel.open(A)).toThrow(expect.objectContaining({ code: 'E_CLIENT_EXISTS' }));
      };
    });
  });

  it('should decode control bodies onto control$ and send control messages', () => {
    marbles(({ hot, expectObservable }) => {
      const { transport, written } = scriptedTransport(hot('-k-g-k-', wire));
      const tunnel = createTunnel(transport);
      const hello = [1, 'hello', [1], ['add_token']];
      expectObservable(tunnel.control$).toBe('-h---h-', { h: hello });
      tunnel.sendControl([-1, null]);
      return () => expect(written.map((f) => `${f.kind} ${Buffer.from(f.data).toString()}`)).toEqual(['control [-1,null]']);
    });
  });

  it('should show every decoded frame on frames$', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const { transport } = scriptedTransport(hot('-c-k-d-|', wire));
      const tunnel = createTunnel(transport);
      tunnel.clients$.subscribe();
      expectObservable(tunnel.frames$.pipe(map((f) => f.kind))).toBe('-c-k-d-|', { c: 'connection', k: 'control', d: 'data' });
    });
  });

  it('should send an error frame with the local code when a client is destroyed with an error', () => {
    marbles(({ hot }) => {
      const { transport, written } = scriptedTransport(hot('-c-', wire));
      const tunnel = createTunnel(transport);
      tunnel.clients$.subscribe((c) => c.destroy(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
      return () => {
        expect(written.map((f) => `${f.kind} ${JSON.stringify(decodeErrorBody(f.data))}`)).toEqual([
          'error {"message":"connect ECONNREFUSED","code":"ECONNREFUSED"}',
        ]);
        expect(tunnel.clients.size).toBe(0);
      };
    });
  });
});
