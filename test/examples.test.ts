import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The examples import 'mproxy' itself (the package's own name resolves to dist/), exactly as a
// user's code would: they run against the build, so `npm test` builds first.
function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('examples', () => {
  it('echo.mjs echoes three clients through a tunnel and exits', async () => {
    const result = await runExample('echo.mjs');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('hello from visitor 1\nhello from visitor 2\nhello from visitor 3\n');
  });

  it('operators.mjs serves a client from a pipeline of operators and exits', async () => {
    const result = await runExample('operators.mjs');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('COMPOSED FROM OPERATORS\n');
  });
});
