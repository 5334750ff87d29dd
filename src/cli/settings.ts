// Turns a subcommand's flags plus the optional --config file into one validated config:
// flags override the file, and both pass through the same schema so errors name the field.
import { readFile } from "node:fs/promises";
import { ConfigError, parseConfig, parseYaml } from "../config/load.ts";
import type { FednsConfig } from "../config/schema.ts";
import { configureLogging } from "../obs/log.ts";

export type Overrides = Record<string, unknown>;

/** Reads --config (when given), applies the overrides (dotted paths), validates. */
export async function resolveConfig(configPath: string | undefined, overrides: Overrides): Promise<FednsConfig> {
  let raw: Record<string, unknown> = {};
  const source = configPath ?? "command-line flags";
  if (configPath !== undefined) {
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configPath}: ${(err as Error).message}`);
    }
    const parsed = parseYaml(text, configPath);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed))
        throw new ConfigError(`${configPath}: top level must be a mapping`);
      raw = parsed as Record<string, unknown>;
    }
  }
  for (const [path, value] of Object.entries(overrides)) {
    if (value !== undefined) setPath(raw, path.split("."), value);
  }
  const config = parseConfig(raw, configPath === undefined ? source : `${configPath} (with command-line flags)`);
  configureLogging(config.log.level);
  return config;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let current = target;
  for (const key of path.slice(0, -1)) {
    const next = current[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[path[path.length - 1]!] = value;
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
