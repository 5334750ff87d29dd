// Reading and validating the config file; errors name the field and the bad value.
import { readFile } from "node:fs/promises";
import { type ErrorCode, LineCounter, parseDocument, visit } from "yaml";
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

/**
 * Parses YAML text. Syntax errors name the line, column and kind of each problem but never quote the
 * source: a config line can hold a secret (`password: ...`), and reload errors end up in the logs.
 */
export function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return `  line ${line}, column ${col}: ${describeYamlError(error.code)} (${error.code})`;
    });
    throw new ConfigError(`${source} is not valid YAML:\n${problems.join("\n")}`);
  }
  try {
    return document.toJS();
  } catch {
    // After a clean parse, toJS fails on aliases (unresolved, or too many), and its messages quote the
    // anchor: report where an unresolved alias is, or the kind only.
    let where = "";
    visit(document, {
      Alias(_key, node) {
        if (node.resolve(document) !== undefined || !node.range) return undefined;
        const { line, col } = lineCounter.linePos(node.range[0]);
        where = `line ${line}, column ${col}: `;
        return visit.BREAK;
      },
    });
    const kind = where === "" ? "aliases cannot be resolved (too many?)" : "alias to an anchor not defined before it";
    throw new ConfigError(`${source} is not valid YAML:\n  ${where}${kind}`);
  }
}

const YAML_ERRORS: Partial<Record<ErrorCode, string>> = {
  ALIAS_PROPS: "an alias cannot have a tag or anchor",
  BAD_ALIAS: "invalid alias",
  BAD_DIRECTIVE: "invalid directive",
  BAD_DQ_ESCAPE: "invalid escape in a double-quoted string",
  BAD_INDENT: "bad indentation",
  BAD_PROP_ORDER: "anchor and tag in the wrong order",
  BAD_SCALAR_START: "a plain value cannot start with this character",
  BLOCK_AS_IMPLICIT_KEY: "nested mapping on one line (quote a value that contains ': ')",
  BLOCK_IN_FLOW: "a block collection inside a flow collection",
  DUPLICATE_KEY: "duplicate key",
  KEY_OVER_1024_CHARS: "implicit key longer than 1024 characters",
  MISSING_CHAR: "missing character (unclosed quote, bracket or brace?)",
  MULTILINE_IMPLICIT_KEY: "a key must be on a single line",
  MULTIPLE_ANCHORS: "more than one anchor",
  MULTIPLE_DOCS: "more than one document",
  MULTIPLE_TAGS: "more than one tag",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "too many aliases",
  TAB_AS_INDENT: "tab used for indentation",
  TAG_RESOLVE_FAILED: "unknown or unresolvable tag",
  UNEXPECTED_TOKEN: "unexpected token",
  BAD_COLLECTION_TYPE: "wrong collection type for its tag",
};

function describeYamlError(code: ErrorCode): string {
  return YAML_ERRORS[code] ?? "syntax error";
}

/** Field names (at any depth of the path) whose values are never echoed in errors. */
const SECRET_FIELD = /password|token|secret|key/i;

/** The value to show for an issue, or undefined when it must not (or cannot) be shown. */
function shownValue(input: unknown, path: readonly PropertyKey[]): unknown {
  const value = valueAt(input, path);
  // Any scalar, not only strings: YAML reads `password: 12345678` as a number.
  if (path.some((segment) => typeof segment === "string" && SECRET_FIELD.test(segment))) return undefined;
  if (typeof value !== "string") return value;
  if (value.includes("-----BEGIN")) return undefined; // PEM material pasted where a path belongs
  return value.replace(/\/\/[^/@\s]*@/g, "//***@"); // URL credentials (user:password@)
}

function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String);
      const field = path.length === 0 ? "(top level)" : path.join(".");
      const value = shownValue(input, issue.path);
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
