import { createRequire } from 'node:module';

/**
 * A package loaded the first time it is needed rather than when the module that uses it is.
 * ioredis, prom-client, pino-pretty and yaml each cost a process several MiB of memory and tens
 * of milliseconds of start-up, and most relays and devices use none of them (no cluster, no
 * metrics, no terminal, no config file).
 */
export function lazyModule<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= createRequire(import.meta.url)(id) as T);
}
