// URL paths of the Kubernetes API, parsed into what the request addresses.
import { type ResourceType, typeByPath } from "./resources.ts";

export type Route =
  | { kind: "version" }
  | { kind: "health" }
  | { kind: "core-versions" }
  | { kind: "group-list" }
  | { kind: "group"; group: string }
  | { kind: "resource-list"; group: string; version: string }
  | { kind: "openapi-root" }
  | { kind: "openapi"; group: string; version: string }
  | {
      kind: "resource";
      type: ResourceType;
      namespace: string | undefined;
      name: string | undefined;
      subresource: string | undefined;
    }
  | { kind: "unknown" };

/** A path segment decoded, or undefined when its percent-encoding is not UTF-8 (`%E0`). */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function parseRoute(pathname: string): Route {
  const decoded = pathname
    .split("/")
    .filter((p) => p !== "")
    .map(decodeSegment);
  if (decoded.some((part) => part === undefined)) return { kind: "unknown" };
  const parts = decoded as string[];
  const [first, second, third, fourth] = parts;
  if (first === "version" && parts.length === 1) return { kind: "version" };
  if ((first === "healthz" || first === "livez" || first === "readyz") && parts.length === 1) return { kind: "health" };
  if (first === "openapi" && second === "v3") {
    if (parts.length === 2) return { kind: "openapi-root" };
    if (third === "api" && fourth !== undefined && parts.length === 4)
      return { kind: "openapi", group: "", version: fourth };
    if (third === "apis" && fourth !== undefined && parts[4] !== undefined && parts.length === 5) {
      return { kind: "openapi", group: fourth, version: parts[4] };
    }
    return { kind: "unknown" };
  }
  if (first === "api") {
    if (parts.length === 1) return { kind: "core-versions" };
    if (second === undefined) return { kind: "unknown" };
    if (parts.length === 2) return { kind: "resource-list", group: "", version: second };
    return resourceRoute("", second, parts.slice(2));
  }
  if (first === "apis") {
    if (parts.length === 1) return { kind: "group-list" };
    if (second === undefined) return { kind: "unknown" };
    if (parts.length === 2) return { kind: "group", group: second };
    if (third === undefined) return { kind: "unknown" };
    if (parts.length === 3) return { kind: "resource-list", group: second, version: third };
    return resourceRoute(second, third, parts.slice(3));
  }
  return { kind: "unknown" };
}

function resourceRoute(group: string, version: string, rest: string[]): Route {
  const unknown: Route = { kind: "unknown" };
  const [a, b, c, d, e] = rest;
  if (a === undefined) return unknown;
  if (a === "namespaces" && b !== undefined && c !== undefined && c !== "status" && c !== "finalize") {
    const type = typeByPath(group, version, c);
    if (type === undefined || !type.namespaced || rest.length > 5) return unknown;
    return { kind: "resource", type, namespace: b, name: d, subresource: e };
  }
  const type = typeByPath(group, version, a);
  if (type === undefined || rest.length > 3) return unknown;
  if (type.namespaced && b !== undefined) return unknown;
  return { kind: "resource", type, namespace: undefined, name: b, subresource: c };
}
