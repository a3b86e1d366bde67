/**
 * Every code block of README.md and docs/*.md that claims to run, runs (the rules are in the
 * README's Development section): programs are run against the build, excerpts are checked
 * against the example they come from, `mproxy` command lines are run.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './support/certificate.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const SECRET = 'doc-snippets-secret-of-32-bytes-or-more';

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly attributes: readonly string[];
  readonly code: string;
}

function blocksOf(file: string): Block[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const blocks: Block[] = [];
  const fence = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(text); match; match = fence.exec(text)) {
    const [lang = '', ...attributes] = (match[1] ?? '').trim().split(/\s+/);
    blocks.push({ file, line: text.slice(0, match.index).split('\n').length, lang, attributes, code: match[2] ?? '' });
  }
  return blocks;
}

const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const BLOCKS = FILES.flatMap(blocksOf);
const PROGRAM_LANGS = new Set(['js', 'mjs', 'ts']);
const SHOWN_LANGS = new Set(['', 'console', 'text', 'json', 'abnf', 'ini', 'yaml']);
const named = (block: Block): string => `${block.file}:${block.line} (${[block.lang, ...block.attributes].join(' ')})`;

// Programs run from a folder inside the package, so that `import 'mproxy'` resolves to the
// build exactly as it does for a user (the package's name refers to itself).
const work = mkdtempSync(join(ROOT, '.doc-snippets-'));
const shell = mkdtempSync(join(tmpdir(), 'mproxy-doc-sh-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(shell, { recursive: true, force: true });
});

/** What each file flag of a command names, as a scratch file; `--cert` names two. */
const FILE_FLAGS: Record<string, (value: string) => [path: string, kind: 'cert' | 'key' | 'text'][]> = {
  '--tunnel-cert': (value) => [[value, 'cert']],
  '--tunnel-key': (value) => [[value, 'key']],
  '--ca': (value) => [[value, 'cert']],
  '--cert': (value) => {
    const [cert = '', key = ''] = value.slice(value.indexOf('=') + 1).split(',');
    return [
      [cert, 'cert'],
      [key, 'key'],
    ];
  },
  '--token-file': (value) => [[value, 'text']],
  '--admin-token-file': (value) => [[value, 'text']],
};

let pems: { cert: string; key: string } | undefined;

/** Writes, under `cwd` unless absolute, the files a command line names that are not there yet. */
async function writeNamedFiles(line: string, cwd: string): Promise<void> {
  const words = line.split(/\s+/);
  for (const [i, word] of words.entries()) {
    const named = FILE_FLAGS[word]?.(words[i + 1] ?? '') ?? [];
    for (const [path, kind] of named) {
      const file = isAbsolute(path) ? path : join(cwd, path);
      if (!path || existsSync(file)) continue;
      pems ??= await selfSignedCertificate('doc.localhost');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, kind === 'text' ? 'doc-snippet-token-or-admin-token' : pems[kind]);
    }
  }
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 20_000, cwd: options.cwd, env: { ...process.env, ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('doc snippets', () => {
  it('every block is of a known kind', () => {
    for (const block of BLOCKS) {
      const known =
        SHOWN_LANGS.has(block.lang) ||
        ((PROGRAM_LANGS.has(block.lang) || block.lang === 'sh') &&
          block.attributes.every((attribute) => ['excerpt', 'no-run'].includes(attribute) || attribute.startsWith('from=')));
      expect(known, `${named(block)}: give a block a language, and only the attributes excerpt, from=FILE or no-run`).toBe(true);
    }
  });

  const programs = BLOCKS.filter((block) => PROGRAM_LANGS.has(block.lang) && block.attributes.length === 0);
  it.each(programs.map((block) => [named(block), block] as const))('%s runs and exits cleanly', async (_name, block) => {
    const isCommonJs = /\brequire\(/.test(block.code);
    const source = block.lang === 'ts' ? (await transform(block.code, { loader: 'ts', format: 'esm' })).code : block.code;
    const file = join(work, `${block.file.replace(/\W/g, '_')}_${block.line}.${isCommonJs ? 'cjs' : 'mjs'}`);
    writeFileSync(file, source);
    const result = await run(process.execPath, [file], { cwd: work });
    expect(result.stderr, named(block)).toBe('');
    expect(result.code, named(block)).toBe(0);
    // Where the block says what it prints (`// prints`-style trailing comments), it prints it.
    for (const said of block.code.matchAll(/console\.log\([^\n]*\);\s*\/\/ (.+)$/gm)) expect(result.stdout, named(block)).toContain(said[1]);
  });

  const excerpts = BLOCKS.filter((block) => block.attributes.some((attribute) => attribute.startsWith('from=')));
  it('has excerpts of programs to check (an empty list would check nothing)', () => {
    expect(excerpts.map(named)).toEqual([expect.stringContaining('docs/reactive.md')]);
  });
  it.each(excerpts.map((block) => [named(block), block] as const))('%s is lines of its program, in order', (_name, block) => {
    const from = (block.attributes.find((attribute) => attribute.startsWith('from=')) as string).slice('from='.length);
    const lines = readFileSync(join(ROOT, from), 'utf8').split('\n').map((line) => line.trim());
    let at = 0;
    for (const line of block.code.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
      const found = lines.indexOf(line, at);
      expect(found, `${named(block)}: ${JSON.stringify(line)} is not in ${from} (after line ${at})`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  const commands = BLOCKS.filter((block) => block.lang === 'sh' && !block.attributes.includes('no-run') && !block.attributes.includes('excerpt'));
  it.each(commands.map((block) => [named(block), block] as const))('%s: its mproxy commands run', async (_name, block) => {
    // Files the commands name (/etc/mproxy/…, relay.secret, app.token, certificates) exist in a
    // scratch folder: `--print-config` reads them as a start would.
    const cwd = mkdtempSync(join(shell, 'block-'));
    mkdirSync(join(cwd, 'etc', 'mproxy'), { recursive: true });
    writeFileSync(join(cwd, 'etc', 'mproxy', 'secret'), SECRET);
    writeFileSync(join(cwd, 'relay.secret'), SECRET);
    const lines = block.code
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => /^(npx )?mproxy /.test(line));
    expect(lines.length, `${named(block)} has no mproxy command: mark it no-run`).toBeGreaterThan(0);
    for (const line of lines) await writeNamedFiles(line.replaceAll('/etc/mproxy/', `${cwd}/etc/mproxy/`), cwd);
    for (const line of lines) {
      let command = line.replace(/^(npx )?mproxy /, 'node "$MPROXY" ').replaceAll('/etc/mproxy/', `${cwd}/etc/mproxy/`);
      if (/^node "\$MPROXY" (relay|device) /.test(command)) command += ' --print-config';
      const result = await run('sh', ['-c', command], { cwd, env: { MPROXY: CLI, RELAY_SECRET: SECRET } });
      expect(result.stderr, `${named(block)}: ${line}`).toBe('');
      expect(result.code, `${named(block)}: ${line}`).toBe(0);
    }
  });
});
