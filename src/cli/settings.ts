// What every subcommand shares: its config (config/resolve.ts) with logging set from it, repeatable flags,
// error reporting, signals and bounded stops.
import { ConfigError } from "../config/load.ts";
import { type Overrides, resolveConfig } from "../config/resolve.ts";
import type { FednsConfig } from "../config/schema.ts";
import { configureLogging } from "../obs/log.ts";

/** The subcommand's config (--config file plus flags, see config/resolve.ts); configures logging from it. */
export async function commandConfig(configPath: string | undefined, overrides: Overrides): Promise<FednsConfig> {
  const config = await resolveConfig(configPath, overrides);
  configureLogging(config.log.level);
  return config;
}

/** commander collector for repeatable flags (`--zone a --zone b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Runs a command body, printing config errors plainly (no stack) and exiting non-zero. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fedns: ${err.message}\n`);
      process.exit(2);
    }
    // Operational failures (etcd unreachable, port taken) read best as one line; stacks are for debugging.
    const debug = ["debug", "trace"].includes(process.env.FEDNS_LOG_LEVEL ?? "");
    const message = err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`fedns: ${message}\n`);
    process.exit(1);
  }
}

/** Resolves on SIGINT/SIGTERM (once), so `serve`/`controller`/`dev` can shut down cleanly. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
      resolve(signal);
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}

/**
 * Runs `stop` but waits for it at most `ms`: true when it finished. A process told to stop must go in time
 * whatever is in flight (a slow etcd, a long reconcile); what it abandons is fenced or idempotent.
 */
export async function stopWithin(stop: () => Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const stopped = stop().then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([stopped, expired]);
  } finally {
    clearTimeout(timer);
  }
}
