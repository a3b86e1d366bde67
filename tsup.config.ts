import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'src/index.ts', compat: 'src/compat/index.ts', transport: 'src/transport/public.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: true,
    // import.meta.url in the CommonJS build (src/lazy-module.ts).
    shims: true,
  },
  {
    entry: { cli: 'src/cli/bin.ts' },
    format: ['esm'],
    // The commands load in a chunk of their own, after bin.ts has restarted the process if it
    // needs to (see there).
    splitting: true,
    sourcemap: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
