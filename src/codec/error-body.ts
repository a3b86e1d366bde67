/** The JSON body of an `error` frame: `{ message, code }`. */
export interface ErrorBody {
  readonly message: string;
  readonly code: string;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** Code used when an `error` frame's body is not the JSON the protocol expects. */
export const UNKNOWN_ERROR_CODE = 'E_UNKNOWN_ERR';

/**
 * Reads an `error` frame's body. Never throws: a body that is not `{message, code}` JSON gives
 * `code: 'E_UNKNOWN_ERR'` with the raw text as the message.
 */
export function decodeErrorBody(data: Uint8Array): ErrorBody {
  const text = textDecoder.decode(data);
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return errorBodyOf(parsed, text);
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { message: text, code: UNKNOWN_ERROR_CODE };
}

/**
 * The `{message, code}` of a parsed error object, filled in where a peer left something out or
 * sent the wrong type: the message by `fallback`, the code by `E_UNKNOWN_ERR`. Shared by
 * `error` frames and the control channel's error answers.
 */
export function errorBodyOf(value: object, fallback: string): ErrorBody {
  const { message, code } = value as { message?: unknown; code?: unknown };
  return {
    message: typeof message === 'string' ? message : fallback,
    code: typeof code === 'string' && code !== '' ? code : UNKNOWN_ERROR_CODE,
  };
}

/** Encodes `{ message, code }` as an `error` frame's body. */
export function encodeErrorBody(error: { message: string; code?: string | undefined }): Uint8Array {
  return textEncoder.encode(JSON.stringify({ message: error.message, code: error.code ?? UNKNOWN_ERROR_CODE }));
}
