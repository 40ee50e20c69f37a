import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths never written to a log, whatever the level. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization'];

/** The pino options every Wess logger uses: JSON lines, ISO time, secrets redacted. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'wess' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/** A standalone logger (the CLI and tests); the app uses Fastify's, built from the same options. */
export function createLogger(level: string): Logger {
  return pino(loggerOptions(level));
}
