// Structured JSON logs (pino): one logger per process, children per component.
import { type Logger, pino } from "pino";

export type { Logger };

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

let root: Logger = pino({
  level: process.env.FEDNS_LOG_LEVEL ?? "info",
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  // Secrets that may appear in config objects or client errors are never written out.
  redact: {
    paths: ["*.password", "*.token", "*.key", "*.cert", "*.ca", "*.bearerToken", "*.authorization", "*.Authorization"],
    censor: "[redacted]",
  },
});

export function configureLogging(level: LogLevel): void {
  root.level = level;
}

/** Replaces the root logger (tests silence it, `fedns dev` may prettify it). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function logger(component: string): Logger {
  return root.child({ component });
}
