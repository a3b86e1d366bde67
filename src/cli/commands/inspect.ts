/**
 * `mproxy inspect <file|->`: decodes an M-PROXY byte stream and prints one line per frame.
 * The input is streamed through the decoder chunk by chunk, never read whole, so a capture of
 * any size can be inspected, and the frames before a protocol error are still shown.
 */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { asBuffer } from '../../codec/bytes.js';
import { FrameDecoder } from '../../codec/decode.js';
import { decodeErrorBody } from '../../codec/error-body.js';
import { ProtocolError } from '../../codec/errors.js';
import { clientMetaOf, type Frame } from '../../codec/frame.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../../codec/options.js';

/** Bytes of a body shown in the text output. */
const PREVIEW_BYTES = 32;

interface InspectOptions {
  readonly json?: boolean;
  readonly maxFrameSize: number;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('decode an M-PROXY byte stream and print one line per frame')
    .argument('<file>', "the stream to decode, or '-' for stdin")
    .option('--json', 'print one JSON object per frame, the body in base64')
    .option('--max-frame-size <bytes>', 'largest body a frame may announce', parseSize, DEFAULT_MAX_FRAME_SIZE)
    .action(async (file: string, options: InspectOptions) => {
      await inspect(file, options);
    });
}

async function inspect(file: string, options: InspectOptions): Promise<void> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  const decoder = new FrameDecoder({ maxFrameSize: options.maxFrameSize });
  const format = options.json ? jsonLine : textLine;
  // Leaving the loop early (an error) destroys the stream, for stdin as for a file.
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      if (error instanceof ProtocolError) await print(error.frames.map(format));
      throw error;
    }
    await print(frames.map(format));
  }
  decoder.end();
}

async function print(lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  if (!process.stdout.write(`${lines.join('\n')}\n`)) await once(process.stdout, 'drain');
}

/** `kind id key=value… len=N` and a preview of the body. */
function textLine(frame: Frame): string {
  // A control frame has no client: its id is always `,,`.
  const parts: string[] = frame.kind === 'control' ? ['control'] : [frame.kind, quote(frame.id)];
  if (frame.service !== '') parts.push(`service=${quote(frame.service)}`);
  if (frame.serviceport !== null) parts.push(`serviceport=${frame.serviceport}`);
  if (frame.name !== '') parts.push(`name=${quote(frame.name)}`);
  parts.push(`len=${frame.data.length}`);
  if (frame.kind === 'error') {
    const body = decodeErrorBody(frame.data);
    parts.push(`code=${quote(body.code)}`, `message=${JSON.stringify(body.message)}`);
  } else if (frame.data.length > 0) {
    parts.push(preview(frame.data));
  }
  return parts.join(' ');
}

/** The whole frame as JSON, `data` in base64 (`""` when the body is empty). */
function jsonLine(frame: Frame): string {
  return JSON.stringify({
    kind: frame.kind,
    id: frame.id,
    ...clientMetaOf(frame),
    length: frame.data.length,
    data: asBuffer(frame.data).toString('base64'),
    ...(frame.kind === 'error' ? { error: decodeErrorBody(frame.data) } : {}),
  });
}

/** `text="…"` when the first bytes are printable ASCII (CR, LF, tab allowed), else `hex=…`. */
function preview(data: Uint8Array): string {
  const head = data.subarray(0, PREVIEW_BYTES);
  const more = data.length > PREVIEW_BYTES ? '...' : '';
  const printable = head.every((c) => (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d);
  const buf = asBuffer(head);
  return printable ? `text=${JSON.stringify(buf.toString('latin1'))}${more}` : `hex=${buf.toString('hex')}${more}`;
}

/** Values with spaces or quotes are quoted, so that a line always splits the same way. */
function quote(value: string): string {
  return /^[\x21-\x7e]+$/.test(value) && !value.includes('"') ? value : JSON.stringify(value);
}

function parseSize(value: string): number {
  if (!/^[0-9]{1,16}$/.test(value)) throw new InvalidArgumentError('expected a non-negative integer of bytes');
  return Number(value);
}
