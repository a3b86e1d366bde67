export * from './frame.js';
export * from './errors.js';
export { type DecoderOptions, DEFAULT_MAX_FRAME_SIZE } from './options.js';
export { FrameDecoder } from './decode.js';
export { encodeFrame, encodeFrameParts, type EncodedFrame } from './encode.js';
export { decodeErrorBody, encodeErrorBody, type ErrorBody, UNKNOWN_ERROR_CODE } from './error-body.js';
