// Reading and validating the config file; errors name the field and the bad value.
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { configSchema, type FednsConfig } from "./schema.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates a plain object (from YAML or built from flags) into a config with defaults filled in. */
export function parseConfig(input: unknown, source = "config"): FednsConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ConfigError(`invalid configuration (${source}):\n${formatIssues(result.error.issues, input)}`);
}

export async function loadConfigFile(path: string): Promise<FednsConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  return parseConfig(parseYaml(text, path), path);
}

export function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(`${source} is not valid YAML:\n${document.errors.map((e) => `  ${e.message}`).join("\n")}`);
  }
  return document.toJS();
}

const SECRET_FIELDS = new Set(["password", "token"]);

function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String);
      const field = path.length === 0 ? "(top level)" : path.join(".");
      const last = path[path.length - 1];
      const value = last !== undefined && SECRET_FIELDS.has(last) ? undefined : valueAt(input, issue.path);
      const shown = value === undefined ? "" : ` (got ${JSON.stringify(value)})`;
      return `  ${field}: ${issue.message}${shown}`;
    })
    .join("\n");
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  if (current !== null && typeof current === "object") return undefined;
  return current;
}
