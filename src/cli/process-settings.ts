/**
 * The process settings `mproxy relay` and `mproxy device` give themselves.
 *
 * A relay or a device allocates one buffer per socket read and frees it once its bytes have
 * left: that garbage is memory outside V8's heap, which V8 sees late. With Node's defaults the
 * young generation grows to tens of MiB, dead read buffers pile up between collections, full
 * collections follow one another, and glibc hands the freed memory back to the kernel only to
 * fault it in again on the next reads. Three settings cut that cost (measured in
 * docs/performance.md, "Process settings"):
 *
 * - `--max-semi-space-size=1`: a young generation of 1 MiB per semi-space, so that dead read
 *   buffers are freed by the next scavenge, in small batches, instead of waiting for a full
 *   collection.
 * - `--initial-old-space-size=64`: V8 counts the buffers read since the last full collection
 *   against the old generation's limit, which a process whose heap is small (a relay's is a few
 *   MiB) keeps low: a few MiB of traffic would start the next full collection. With a floor of
 *   64 MiB they come rarely, on a relay that has just served thousands of visitors as well.
 * - `GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864`: glibc keeps up to 64 MiB of freed
 *   memory for the next reads instead of returning it to the kernel at once (ignored by other C
 *   libraries).
 *
 * They act only when the process starts, so the command starts itself again with them
 * (`process.execve`, Node ≥ 22.15: same pid, same stdio). Without `process.execve` two flags
 * that V8 reads each time it sizes a generation stand in, set at run time:
 * `--semi-space-growth-factor=1` keeps the young generation at its first size (1 MiB
 * semi-spaces, as the flag gives), and `--heap-growing-percent=300` sets the old generation's
 * next limit at four times what a full collection left, V8's largest factor, where V8 would
 * otherwise drop to 1.1–1.3 on a small heap that it sees collected often: back-to-back full
 * collections, in place of the 64 MiB floor. The glibc tunable cannot be had there. A setting
 * the user gave already (in `NODE_OPTIONS`, on the command line, in `GLIBC_TUNABLES`) is left
 * as it is; `MPROXY_PROCESS_SETTINGS=off` runs with Node's defaults.
 */
import { setFlagsFromString } from 'node:v8';

/** The environment variable that turns the settings off (`off`). */
export const PROCESS_SETTINGS_ENV = 'MPROXY_PROCESS_SETTINGS';
export const SEMI_SPACE_FLAG = '--max-semi-space-size=1';
export const OLD_SPACE_FLAG = '--initial-old-space-size=64';
export const TRIM_TUNABLE = 'glibc.malloc.trim_threshold=67108864';
/** What stands in for {@link SEMI_SPACE_FLAG} where the process cannot start again. */
export const NO_GROWTH_FLAG = '--semi-space-growth-factor=1';
/** What stands in for {@link OLD_SPACE_FLAG} where the process cannot start again. */
export const GROWING_FLAG = '--heap-growing-percent=300';

/** What the process is and has, as {@link planProcessSettings} needs it. */
export interface ProcessFacts {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  /** Whether `process.execve` exists. */
  readonly canExec: boolean;
}

/**
 * How to start again, and which settings that adds; or, when not, why a setting is missing
 * (`why` absent: every setting is there already).
 */
export type ProcessSettingsPlan =
  | { readonly exec: true; readonly argv: string[]; readonly env: NodeJS.ProcessEnv; readonly adds: string[] }
  | { readonly exec: false; readonly why?: string; readonly atRunTime?: string[] };

/** The Node flags a process was given: on its command line, then in `NODE_OPTIONS`. */
function nodeFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  return [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
}

export function planProcessSettings(facts: ProcessFacts): ProcessSettingsPlan {
  const { env } = facts;
  if (env[PROCESS_SETTINGS_ENV] === 'off') return { exec: false, why: `${PROCESS_SETTINGS_ENV}=off` };
  if (facts.platform === 'win32') return { exec: false, why: 'not on Windows' };
  const adds: string[] = [];
  const flags = nodeFlags(facts.execArgv, env);
  const argv = [...facts.execArgv];
  const given = (wanted: string): boolean => flags.some((flag) => flag.split('=')[0] === wanted.split('=')[0]);
  const v8 = [SEMI_SPACE_FLAG, OLD_SPACE_FLAG].filter((wanted) => !given(wanted));
  // V8 flags go first, in this order, before the user's own.
  argv.unshift(...v8);
  adds.push(...v8);
  const tunables = env.GLIBC_TUNABLES ?? '';
  const nextEnv = { ...env };
  if (facts.platform === 'linux' && !/(^|:)glibc\.malloc\.trim_threshold=/.test(tunables)) {
    nextEnv.GLIBC_TUNABLES = tunables === '' ? TRIM_TUNABLE : `${tunables}:${TRIM_TUNABLE}`;
    adds.push(`GLIBC_TUNABLES=${TRIM_TUNABLE}`);
  }
  if (adds.length === 0) return { exec: false };
  if (!facts.canExec) {
    const atRunTime = [
      ...(v8.includes(SEMI_SPACE_FLAG) ? [NO_GROWTH_FLAG] : []),
      ...(v8.includes(OLD_SPACE_FLAG) && !given(GROWING_FLAG) ? [GROWING_FLAG] : []),
    ];
    return { exec: false, why: `process.execve needs Node 22.15 or later, this is ${process.version}`, atRunTime };
  }
  return { exec: true, argv: [facts.execPath, ...argv, ...facts.argv.slice(1)], env: nextEnv, adds };
}

/** V8 flags set at run time by {@link applyProcessSettings}. */
const setAtRunTime = new Set<string>();

/** The settings in effect, for the start-up log line. */
export function processSettingsInEffect(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const flags = nodeFlags(execArgv, env).filter((flag) => /^--(max-semi-space-size|initial-old-space-size|heap-growing-percent)(=|$)/.test(flag));
  return [...flags, ...[...setAtRunTime].map((flag) => `${flag} (at run time)`), ...(env.GLIBC_TUNABLES ? [`GLIBC_TUNABLES=${env.GLIBC_TUNABLES}`] : [])];
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Starts the command again with the settings it lacks (see the module comment); returns when
 * there is nothing to add (undefined) or no way to (the reason). bin.ts calls it before the commands
 * load; the commands call it again (a no-op by then) for the reason they log. Call it before
 * reading stdin or opening anything: the process is replaced.
 */
export function applyProcessSettings(): string | undefined {
  const execve = (process as { execve?: Execve }).execve;
  const plan = planProcessSettings({
    execPath: process.execPath,
    execArgv: process.execArgv,
    argv: process.argv,
    env: process.env,
    platform: process.platform,
    canExec: typeof execve === 'function',
  });
  if (!plan.exec) {
    for (const flag of plan.atRunTime ?? []) {
      setFlagsFromString(flag);
      setAtRunTime.add(flag);
    }
    return plan.why;
  }
  execve!.call(process, process.execPath, plan.argv, plan.env);
}

/**
 * The start-up line, at `debug` (a refusal stays the one line a user sees): the settings in
 * effect, and why one is missing when it is.
 */
export function logProcessSettings(log: { debug(fields: object, message: string): void }, notApplied: string | undefined): void {
  const inEffect = processSettingsInEffect();
  const what = inEffect.length > 0 ? inEffect.join(', ') : "Node's defaults";
  const why = notApplied ? ` (${notApplied})` : '';
  log.debug({ processSettings: inEffect }, `process settings: ${what}${why}`);
}
