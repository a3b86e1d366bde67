import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Files whose bound depends on how promptly two processes answer each other (what a peer sends
 * before it hears `pause` is held, and the kernel's socket buffers take more of it the longer
 * the answer takes). They run after every other file, one at a time, so that the rest of the
 * suite does not slow both processes; their bounds are the same.
 */
const ALONE = ['test/examples-backpressure.test.ts'];

export default defineConfig({
  test: {
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default (one core fewer than the machine has) runs the files one at a time on a
    // 2-core machine. Most files wait on sockets and child processes rather than compute, so
    // two at a time is what keeps `npm test` well inside its 5 minutes there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/support/ensure-pebble.ts', 'test/support/ensure-chromium.ts', 'test/support/ensure-redis.ts'],
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ALONE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
