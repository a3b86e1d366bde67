export {
  NO_ANSWER,
  createControlChannel,
  toControlErrorBody,
  type ControlChannel,
  type ControlHandler,
  type ControlPort,
  type ControlRequest,
} from './channel.js';
export { ControlError, type ControlErrorCode, type ControlErrorOptions } from './errors.js';
export {
  HELLO_COMMANDS,
  HELLO_VERSIONS,
  answerHello,
  helloArgs,
  parseHello,
  sendHello,
  type AnswerHelloOptions,
  type Hello,
} from './hello.js';
export {
  notice as controlNotice,
  parseControlMessage,
  request as controlRequest,
  response as controlResponse,
  type ControlErrorBody,
  type ControlMessage,
  type ControlNoticeMessage,
  type ControlNoticeWire,
  type ControlParseFailure,
  type ControlRequestMessage,
  type ControlRequestWire,
  type ControlResponseMessage,
  type ControlResponseWire,
} from './messages.js';
export { DEFAULT_CONTROL_TIMEOUT, type ControlChannelOptions } from './options.js';
