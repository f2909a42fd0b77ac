/**
 * Structured logs (pino). Secrets are redacted wherever they appear in a logged object:
 * provider keys, authorization and cookie headers, tokens, passwords. With `redactContent`
 * (SWITCHYARD_LOG_REDACT_CONTENT) prompts, inputs, outputs and outbox entries are too, so the
 * logs hold ids, statuses and timings but no user text. A free-form message (an error's text)
 * is not parsed: what the engine logs as a message never carries a credential.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/** Logged fields that may hold a secret: always redacted. */
export const SECRET_PATHS = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'cookie',
  '*.cookie',
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** Logged fields that may hold user text (prompts, inputs, outputs): redacted when configured. */
export const CONTENT_PATHS = [
  'input',
  '*.input',
  'output',
  '*.output',
  'prompt',
  '*.prompt',
  'task',
  '*.task',
  'messages',
  '*.messages',
  'body',
  '*.body',
  'entry',
  'context',
  '*.context',
];

export interface LoggerOptions {
  /** Redact prompts, inputs, outputs and outbox entries too. @default false */
  redactContent?: boolean;
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
  /** Coloured, readable lines for people (LOG_FORMAT=pretty) instead of JSON. @default false */
  pretty?: boolean;
}

export function createLogger(level: string = 'info', opts: LoggerOptions = {}): Logger {
  const options = {
    level,
    base: { service: 'switchyard' },
    redact: { paths: [...SECRET_PATHS, ...(opts.redactContent ? CONTENT_PATHS : [])], censor: '[redacted]' },
  };
  if (opts.pretty) {
    // Written in this thread (no transport worker), so the last lines before an exit are not lost.
    const pretty = PinoPretty({
      colorize: process.stdout.isTTY,
      singleLine: true,
      sync: true,
      ignore: 'pid,hostname,service',
      translateTime: 'SYS:HH:MM:ss.l',
      destination: opts.destination ?? 1,
    });
    return pino(options, pretty);
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that writes nothing, for tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
