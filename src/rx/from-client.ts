import { Observable } from 'rxjs';
import type { Client, MproxyClient } from './client.js';

/**
 * A client's inbound bytes, delivered only while `ready$`'s latest value is `true`. Bytes that
 * arrive meanwhile are held in the client, where they count against the tunnel's watermarks:
 * past `highWaterMark` (1 MiB by default) the remote is sent `pause`, at `lowWaterMark`
 * (128 KiB) `resume`, and a remote that goes on past `maxClientBuffer` gets the client
 * destroyed. A slow consumer so bounds what the process holds for it.
 *
 * Completes on the remote's `end`, after the bytes held; errors as `client.data$` does. One
 * subscriber at a time (it is `data$`, gated).
 */
export function fromClient(client: Client, ready$: Observable<boolean>): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) => (client as MproxyClient).sinkInto(subscriber, ready$));
}
