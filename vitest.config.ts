import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/support/ensure-pebble.ts', 'test/support/ensure-chromium.ts', 'test/support/ensure-redis.ts'],
  },
});
