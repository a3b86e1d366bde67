import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defer, stopChild } from '../support/index.js';
import {
  GROWING_FLAG,
  NO_GROWTH_FLAG,
  OLD_SPACE_FLAG,
  SEMI_SPACE_FLAG,
  TRIM_TUNABLE,
  planProcessSettings,
  processSettingsInEffect,
  type ProcessFacts,
} from '../../src/cli/process-settings.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SECRET = 'process-settings-test-secret-32-bytes-long';
const canExec = typeof (process as { execve?: unknown }).execve === 'function';

const facts = (over: Partial<ProcessFacts> = {}): ProcessFacts => ({
  execPath: '/usr/bin/node',
  execArgv: [],
  argv: ['/usr/bin/node', '/opt/mproxy/dist/cli.js', 'relay', '--listen', ':443'],
  env: { PATH: '/usr/bin' },
  platform: 'linux',
  canExec: true,
  ...over,
});

describe('planProcessSettings', () => {
  it('starts again with the V8 flags first and the glibc tunable added, arguments kept', () => {
    const plan = planProcessSettings(facts({ execArgv: ['--enable-source-maps'] }));
    expect(plan).toEqual({
      exec: true,
      argv: ['/usr/bin/node', SEMI_SPACE_FLAG, OLD_SPACE_FLAG, '--enable-source-maps', '/opt/mproxy/dist/cli.js', 'relay', '--listen', ':443'],
      env: { PATH: '/usr/bin', GLIBC_TUNABLES: TRIM_TUNABLE },
      adds: [SEMI_SPACE_FLAG, OLD_SPACE_FLAG, `GLIBC_TUNABLES=${TRIM_TUNABLE}`],
    });
  });

  it("keeps what the user set: V8 sizes in NODE_OPTIONS or on the command line, a trim threshold of their own", () => {
    const env = { NODE_OPTIONS: '--max-semi-space-size=8', GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' };
    expect(planProcessSettings(facts({ env, execArgv: ['--initial-old-space-size=16'] }))).toEqual({ exec: false });
    const own = planProcessSettings(facts({ execArgv: ['--max-semi-space-size=4'], env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' } }));
    expect(own.exec && own.argv.slice(1, 4)).toEqual([OLD_SPACE_FLAG, '--max-semi-space-size=4', '/opt/mproxy/dist/cli.js']);
    expect(own.exec && own.env.GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${TRIM_TUNABLE}`);
  });

  it('does nothing when turned off, on Windows, or without process.execve, and says why', () => {
    expect(planProcessSettings(facts({ env: { MPROXY_PROCESS_SETTINGS: 'off' } }))).toEqual({ exec: false, why: 'MPROXY_PROCESS_SETTINGS=off' });
    expect(planProcessSettings(facts({ platform: 'win32' }))).toEqual({ exec: false, why: 'not on Windows' });
    expect(planProcessSettings(facts({ canExec: false }))).toMatchObject({ exec: false, why: expect.stringMatching(/^process\.execve needs Node 22\.15/) });
  });

  it('without process.execve, sets flags at run time for the generations the user did not size', () => {
    expect(planProcessSettings(facts({ canExec: false }))).toMatchObject({ exec: false, atRunTime: [NO_GROWTH_FLAG, GROWING_FLAG] });
    expect(planProcessSettings(facts({ canExec: false, env: { NODE_OPTIONS: '--max-semi-space-size=8' } }))).toMatchObject({ atRunTime: [GROWING_FLAG] });
    expect(planProcessSettings(facts({ canExec: false, execArgv: ['--initial-old-space-size=32'] }))).toMatchObject({ atRunTime: [NO_GROWTH_FLAG] });
    expect(planProcessSettings(facts({ canExec: false, execArgv: ['--heap-growing-percent=50'] }))).toMatchObject({ atRunTime: [NO_GROWTH_FLAG] });
    expect(
      planProcessSettings(facts({ canExec: false, execArgv: ['--max-semi-space-size=8', '--initial-old-space-size=32'] })),
    ).toMatchObject({ atRunTime: [] });
  });

  it(`${NO_GROWTH_FLAG}, set at run time, keeps V8's young generation at its first size on this Node`, () => {
    // Allocations that survive a little, which grow the young generation when it may grow.
    const churn = `let keep = []; for (let i = 0; i < 4e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 20000) keep = []; }
      console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)`;
    const newSpace = (setFlag: boolean): number =>
      Number(execFileSync(process.execPath, ['-e', `const v8 = require('node:v8'); ${setFlag ? `v8.setFlagsFromString('${NO_GROWTH_FLAG}');` : ''} ${churn}`], { encoding: 'utf8' }));
    const MiB = 1024 * 1024;
    expect(newSpace(false)).toBeGreaterThan(4 * MiB);
    expect(newSpace(true)).toBeLessThanOrEqual(2 * MiB);
  });

  it('lists the settings in effect, the user\'s own among them, and nothing else', () => {
    const execArgv = ['--heap-growing-percent=50', '--max-semi-space-size=2', '--stack-size=2000'];
    const env = { NODE_OPTIONS: '--initial-old-space-size=32 --trace-warnings', GLIBC_TUNABLES: TRIM_TUNABLE };
    expect(processSettingsInEffect(execArgv, env)).toEqual([
      '--heap-growing-percent=50',
      '--max-semi-space-size=2',
      '--initial-old-space-size=32',
      `GLIBC_TUNABLES=${TRIM_TUNABLE}`,
    ]);
  });

  it('adds no glibc tunable off Linux', () => {
    const plan = planProcessSettings(facts({ platform: 'darwin' }));
    expect(plan.exec && plan.adds).toEqual([SEMI_SPACE_FLAG, OLD_SPACE_FLAG]);
    expect(plan.exec && plan.env.GLIBC_TUNABLES).toBeUndefined();
  });
});

/** Starts `mproxy relay` and resolves with its pid and output once its device endpoint is up. */
function startRelay(env: NodeJS.ProcessEnv): Promise<{ pid: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'relay', '--log-level', 'debug', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    defer(() => stopChild(child));
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/device endpoint ready/.test(output)) resolve({ pid: child.pid as number, output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`relay exited ${code}: ${output}`)));
  });
}

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

describe.runIf(process.platform === 'linux')('mproxy relay applies its process settings', () => {
  it(canExec ? 'in the same process, started again with them, and says so' : 'cannot here (no process.execve), and says why', async () => {
    const { pid, output } = await startRelay({ GLIBC_TUNABLES: '', NODE_OPTIONS: '' });
    if (canExec) {
      expect(cmdline(pid)).toEqual(expect.arrayContaining([SEMI_SPACE_FLAG, OLD_SPACE_FLAG]));
      expect(environ(pid)).toContain(`GLIBC_TUNABLES=${TRIM_TUNABLE}`);
      expect(output).toContain(`process settings: ${SEMI_SPACE_FLAG}, ${OLD_SPACE_FLAG}, GLIBC_TUNABLES=${TRIM_TUNABLE}`);
    } else {
      expect(cmdline(pid)).not.toContain(SEMI_SPACE_FLAG);
      expect(output).toContain(`process settings: ${NO_GROWTH_FLAG} (at run time), ${GROWING_FLAG} (at run time) (process.execve needs Node 22.15 or later`);
    }
  });

  it('runs with Node\'s defaults under MPROXY_PROCESS_SETTINGS=off', async () => {
    const { pid, output } = await startRelay({ MPROXY_PROCESS_SETTINGS: 'off', GLIBC_TUNABLES: '', NODE_OPTIONS: '' });
    expect(cmdline(pid)).not.toContain(SEMI_SPACE_FLAG);
    expect(environ(pid)).not.toContain(`GLIBC_TUNABLES=${TRIM_TUNABLE}`);
    expect(output).toContain("process settings: Node's defaults (MPROXY_PROCESS_SETTINGS=off)");
  });
});
