/** Structured logs (pino); secrets are redacted wherever they appear in a logged object. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = 'info'): Logger {
  return pino({
    level,
    base: { service: 'switchyard' },
    redact: {
      paths: ['*.apiKey', '*.*.apiKey', 'apiKey', '*.authorization', 'headers.authorization', '*.password'],
      censor: '[redacted]',
    },
  });
}

/** A logger that writes nothing, for tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
