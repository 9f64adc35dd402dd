import { debuglog } from "node:util";

/**
 * Receives the worker's own log records. `console` fits, as does pino or
 * winston. debug and error are optional: without error, warn gets its
 * records; without debug, they are dropped.
 */
export interface WorkerLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

const debugLog = debuglog("cronstream");

/**
 * The default: console, with debug records (one per successful attempt)
 * shown only when NODE_DEBUG names cronstream, as Node's own modules do, so
 * a busy worker does not print a line per execution.
 */
export const consoleLogger: WorkerLogger = {
  debug: (message, fields) => (fields ? debugLog("%s %o", message, fields) : debugLog("%s", message)),
  info: (message, fields) => (fields ? console.info(message, fields) : console.info(message)),
  warn: (message, fields) => (fields ? console.warn(message, fields) : console.warn(message)),
  error: (message, fields) => (fields ? console.error(message, fields) : console.error(message)),
};

/** @internal logger with debug and error filled in. */
export function completeLogger(logger: WorkerLogger): Required<WorkerLogger> {
  return {
    debug: (m, f) => logger.debug?.(m, f),
    info: (m, f) => logger.info(m, f),
    warn: (m, f) => logger.warn(m, f),
    error: (m, f) => (logger.error ? logger.error(m, f) : logger.warn(m, f)),
  };
}
