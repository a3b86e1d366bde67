// Loaded by vitest before every test file (vitest.config.ts, setupFiles).
import { afterEach } from 'vitest';
import { runCleanup } from './cleanup.js';

afterEach(runCleanup);
