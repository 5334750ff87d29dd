// Label and field selectors, with the syntax of the real API server (apimachinery labels/fields).
import { badRequest } from "./errors.ts";
import type { ResourceType } from "./resources.ts";
import type { KubeObject } from "./types.ts";

export type Selector = (object: KubeObject) => boolean;

type Requirement =
  | { op: "exists" | "notexists"; key: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "=" | "!="; key: string; value: string };

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, selector: string): string {
  if (!LABEL_KEY.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${selector}"`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!LABEL_VALUE.test(value) || value.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${selector}"`);
  }
  return value;
}

function parseRequirement(text: string, selector: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (set) {
    const values = (set[3] ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "")
      .map((v) => checkValue(v, selector));
    return { op: set[2] === "in" ? "in" : "notin", key: checkKey(set[1] ?? "", selector), values };
  }
  const cmp = /^([^=!\s]+)\s*(==|!=|=)\s*(\S*)$/.exec(text);
  if (cmp) {
    return {
      op: cmp[2] === "!=" ? "!=" : "=",
      key: checkKey(cmp[1] ?? "", selector),
      value: checkValue(cmp[3] ?? "", selector),
    };
  }
  if (text.startsWith("!")) return { op: "notexists", key: checkKey(text.slice(1).trim(), selector) };
  return { op: "exists", key: checkKey(text, selector) };
}

function matches(requirement: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  switch (requirement.op) {
    case "exists":
      return has;
    case "notexists":
      return !has;
    case "in":
      return has && requirement.values.includes(value ?? "");
    case "notin":
      return !has || !requirement.values.includes(value ?? "");
    case "=":
      return has && value === requirement.value;
    case "!=":
      return !has || value !== requirement.value;
  }
}

export function parseLabelSelector(selector: string | undefined | null): Selector {
  if (selector === undefined || selector === null || selector.trim() === "") return () => true;
  const requirements = splitTop(selector).map((part) => parseRequirement(part, selector));
  return (object) => {
    const labels = object.metadata.labels ?? {};
    return requirements.every((r) => matches(r, labels));
  };
}

export function parseFieldSelector(selector: string | undefined | null, type: ResourceType): Selector {
  if (selector === undefined || selector === null || selector.trim() === "") return () => true;
  const tests = splitTop(selector).map((part) => {
    const m = /^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = m[1] ?? "";
    const negate = m[2] === "!=";
    const wanted = (m[3] ?? "").trim();
    const read = fieldReader(field, type);
    return (object: KubeObject) => (read(object) === wanted) !== negate;
  });
  return (object) => tests.every((t) => t(object));
}

function fieldReader(field: string, type: ResourceType): (object: KubeObject) => string | undefined {
  if (field === "metadata.name") return (o) => o.metadata.name;
  if (field === "metadata.namespace") return (o) => o.metadata.namespace ?? "";
  const extra = type.fields[field];
  if (extra === undefined) {
    throw badRequest(`field label not supported: ${field}`);
  }
  return extra;
}
