/**
 * `--config FILE`: a YAML file whose keys are the command's flags without `--` (`listen`,
 * `secret-file`, `forward`, …). A flag on the command line wins over the file's key; a
 * repeatable flag given on the command line replaces the file's list. A relative file or folder
 * in the file is relative to the file's own folder, so that it works from any directory.
 */
import { dirname, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { lazyModule } from '../lazy-module.js';
import { cliError } from './fail.js';
import { readFlagFile } from './secret.js';

// Read only with --config or --print-config.
const yaml = lazyModule<typeof import('yaml')>('yaml');

/** Flags that are never config keys: they are about the file itself. */
const NOT_KEYS = new Set(['config', 'print-config', 'help']);

/** Adds `--config` (and `--print-config`) to a long-running command. */
export function withConfigOption(command: Command): Command {
  return command
    .option('--config <file>', 'read options from a YAML file (keys are the flags without --); flags win')
    .option('--print-config', 'check the resolved configuration as a start would (files read, nothing opened), print it as YAML (secrets left out), then exit');
}

/** The key of a flag: its long name without `--` (and without `no-` for a negated one). */
function keyOf(option: Option): string {
  return (option.long ?? '').replace(/^--(no-)?/, '');
}

/**
 * Reads the file named by `--config` into the command's options, where the command line did
 * not set them. `repeatable`: keys that take a list.
 * @throws `E_BAD_INPUT` (one line) for a file that cannot be read or parsed, an unknown key, or
 *   a value of the wrong type.
 */
export function applyConfig(command: Command, repeatable: ReadonlySet<string>): void {
  const path = command.getOptionValue('config') as string | undefined;
  if (path === undefined) return;
  let data: unknown;
  try {
    data = yaml().parse(readFlagFile(path, '--config').toString('utf8'));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'E_BAD_INPUT') throw error;
    throw cliError('E_BAD_INPUT', `--config ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return;
  if (typeof data !== 'object' || Array.isArray(data)) throw cliError('E_BAD_INPUT', `--config ${path} must be a mapping of keys to values`);
  const options = new Map(command.options.filter((o) => !NOT_KEYS.has(keyOf(o))).map((o) => [keyOf(o), o]));
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const option = options.get(key);
    if (!option) {
      throw cliError('E_BAD_INPUT', `--config ${path}: unknown key "${key}" (the keys are: ${[...options.keys()].join(', ')})`);
    }
    const attribute = option.attributeName();
    if (command.getOptionValueSource(attribute) === 'cli') continue;
    const read = configValue(path, key, value, option, repeatable.has(key));
    command.setOptionValueWithSource(attribute, withPaths(option, read, dirname(resolve(path))), 'config');
  }
}

/**
 * `value` with the files and folders it names resolved against `base`: the value of a flag
 * that takes a path, or the CERT and KEY of a `--cert NAME=CERT,KEY` rule.
 */
function withPaths(option: Option, value: unknown, base: string): unknown {
  const one = (item: unknown): unknown => {
    if (typeof item !== 'string') return item;
    if (/<(path|dir|file)>/.test(option.flags)) return resolve(base, item);
    if (keyOf(option) !== 'cert') return item;
    const at = item.indexOf('=');
    if (at < 0) return item;
    const files = item.slice(at + 1).split(',').map((file) => (file.trim() === '' ? file : resolve(base, file.trim())));
    return `${item.slice(0, at)}=${files.join(',')}`;
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}

function configValue(path: string, key: string, value: unknown, option: Option, repeatable: boolean): unknown {
  const wrong = (what: string): never => {
    throw cliError('E_BAD_INPUT', `--config ${path}: "${key}" must be ${what}`);
  };
  const scalar = (item: unknown): string =>
    typeof item === 'string' || (typeof item === 'number' && Number.isFinite(item)) ? String(item) : wrong(repeatable ? 'a string or a list of strings' : 'a string or a number');
  // A flag that takes no value (`--json`, `--no-reconnect`) is a boolean key.
  if (!option.required && !option.optional) return typeof value === 'boolean' ? value : wrong('true or false');
  if (repeatable) return (Array.isArray(value) ? value : [value]).map(scalar);
  return scalar(value);
}

/**
 * The resolved configuration as YAML, with the keys of `secrets` left out (only their presence
 * is said, in a comment), the defaults included and every file and folder absolute, so that it
 * can serve as a config file from anywhere.
 */
export function printConfig(command: Command, secrets: ReadonlySet<string>): string {
  const out: Record<string, unknown> = {};
  const hidden: string[] = [];
  for (const option of command.options) {
    const key = keyOf(option);
    if (NOT_KEYS.has(key)) continue;
    const value = command.getOptionValue(option.attributeName()) as unknown;
    if (value === undefined) continue;
    if (secrets.has(key)) {
      hidden.push(key);
      continue;
    }
    // Absolute, so that the printed file works wherever it is put.
    out[key] = withPaths(option, value, process.cwd());
  }
  const note = hidden.length > 0 ? `# given but not shown: ${hidden.join(', ')}\n` : '';
  return note + yaml().stringify(out);
}
