// One validated config from the optional config file plus a subcommand's overrides (dotted paths):
// overrides win over the file, and both pass through the same schema so errors name the field.
import { readFile } from "node:fs/promises";
import { ConfigError, parseConfig, parseYaml } from "./load.ts";
import type { FednsConfig } from "./schema.ts";

export type Overrides = Record<string, unknown>;

/** Reads `configPath` (when given), applies the overrides (undefined ones are skipped), validates. */
export async function resolveConfig(configPath: string | undefined, overrides: Overrides): Promise<FednsConfig> {
  let raw: Record<string, unknown> = {};
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
  return parseConfig(raw, configPath === undefined ? "command-line flags" : `${configPath} (with command-line flags)`);
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
