import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default (one core fewer than the machine has) runs the files one at a time on a
    // 2-core machine. Most files wait on sockets and child processes rather than compute, so
    // two at a time is what keeps `npm test` well inside its 5 minutes there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/support/ensure-pebble.ts', 'test/support/ensure-chromium.ts', 'test/support/ensure-redis.ts'],
  },
});
