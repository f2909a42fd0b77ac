/** Structured logs (pino); secrets are redacted wherever they appear in a logged object. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `destination`: where the lines go (default stdout; tests read them). */
export function createLogger(level: string = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'switchyard' },
    redact: {
      paths: ['*.apiKey', '*.*.apiKey', 'apiKey', '*.authorization', 'headers.authorization', '*.password'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing, for tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
