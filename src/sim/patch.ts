// The three PATCH kinds of the API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
// and strategic merge patch for the fields of the served types.
import { badRequest, unprocessable } from "./errors.ts";
import { clone, isMap, type JsonMap, jsonEqual } from "./types.ts";

export type PatchKind = "merge" | "strategic" | "json";

export function patchKindOf(contentType: string): PatchKind | undefined {
  const media = contentType.split(";")[0]?.trim().toLowerCase();
  if (media === "application/merge-patch+json") return "merge";
  if (media === "application/strategic-merge-patch+json") return "strategic";
  if (media === "application/json-patch+json") return "json";
  return undefined;
}

export function applyPatch(kind: PatchKind, target: JsonMap, patch: unknown): JsonMap {
  switch (kind) {
    case "merge":
      if (!isMap(patch)) throw badRequest("merge patch must be a JSON object");
      return mergePatch(target, patch) as JsonMap;
    case "strategic":
      if (!isMap(patch)) throw badRequest("strategic merge patch must be a JSON object");
      return strategicMergePatch(target, patch);
    case "json":
      if (!Array.isArray(patch)) throw badRequest("json patch must be a JSON array of operations");
      return jsonPatch(target, patch);
  }
}

/** RFC 7386: maps merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const result: JsonMap = isMap(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Lists merged by a key (patchStrategy merge), per field path; every other list is replaced. */
const MERGE_KEYS: Record<string, string> = {
  "spec.ports": "port",
  "spec.taints": "key",
  "metadata.ownerReferences": "uid",
  "status.conditions": "type",
  "status.addresses": "type",
  "status.loadBalancer.ingress.ports": "port",
};
/** Lists of scalars merged as sets. */
const SET_LISTS = new Set(["metadata.finalizers", "spec.finalizers"]);

export function strategicMergePatch(target: JsonMap, patch: JsonMap): JsonMap {
  return mergeMap(target, patch, "") ?? {};
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function mergeMap(target: JsonMap | undefined, patch: JsonMap, path: string): JsonMap | undefined {
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  const base: JsonMap = directive === "replace" || target === undefined ? {} : clone(target);
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = base[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        base[field] = current.filter((item) => !value.some((v) => jsonEqual(v, item)));
      }
      continue;
    }
    const fieldPath = join(path, key);
    if (value === null) {
      delete base[key];
    } else if (isMap(value)) {
      const merged = mergeMap(isMap(base[key]) ? (base[key] as JsonMap) : undefined, value, fieldPath);
      if (merged === undefined) delete base[key];
      else base[key] = merged;
    } else if (Array.isArray(value)) {
      base[key] = mergeList(base[key], value, fieldPath);
    } else {
      base[key] = value;
    }
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(base)) if (!retain.includes(key)) delete base[key];
  }
  return base;
}

function mergeList(target: unknown, patch: unknown[], path: string): unknown[] {
  const current = Array.isArray(target) ? clone(target) : [];
  if (patch.some((item) => isMap(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isMap(item) && item.$patch === "replace")).map((item) => clone(item));
  }
  if (SET_LISTS.has(path)) {
    for (const item of patch) if (!current.some((c) => jsonEqual(c, item))) current.push(clone(item));
    return current;
  }
  const mergeKey = MERGE_KEYS[path];
  if (mergeKey === undefined) return patch.map((item) => clone(item));
  for (const item of patch) {
    if (!isMap(item)) continue;
    const index = current.findIndex((c) => isMap(c) && jsonEqual(c[mergeKey], item[mergeKey]));
    if (item.$patch === "delete") {
      if (index >= 0) current.splice(index, 1);
      continue;
    }
    if (index >= 0) current[index] = mergeMap(current[index] as JsonMap, item, path) ?? {};
    else current.push(mergeMap(undefined, item, path) ?? {});
  }
  return current;
}

// --- RFC 6902 -------------------------------------------------------------------------------

function pointer(path: unknown): string[] {
  if (typeof path !== "string" || (path !== "" && !path.startsWith("/"))) {
    throw badRequest(`json patch: invalid path ${JSON.stringify(path)}`);
  }
  if (path === "") return [];
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(document: unknown, tokens: string[], path: string): { parent: unknown; last: string } {
  let node = document;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isMap(node)) node = node[token];
    else node = undefined;
    if (node === undefined) throw unprocessable(`json patch: path ${path} does not exist`);
  }
  const last = tokens[tokens.length - 1];
  if (last === undefined) throw unprocessable("json patch: cannot operate on the whole document");
  return { parent: node, last };
}

function read(document: unknown, path: string): unknown {
  let node = document;
  for (const token of pointer(path)) {
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isMap(node)) node = node[token];
    else node = undefined;
    if (node === undefined) throw unprocessable(`json patch: path ${path} does not exist`);
  }
  return node;
}

function arrayIndex(list: unknown[], token: string, path: string, forAdd: boolean): number {
  if (forAdd && token === "-") return list.length;
  const index = Number(token);
  const limit = forAdd ? list.length : list.length - 1;
  if (!/^\d+$/.test(token) || index > limit) throw unprocessable(`json patch: index out of range in ${path}`);
  return index;
}

function add(document: unknown, path: string, value: unknown): void {
  const { parent, last } = parentOf(document, pointer(path), path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, true), 0, clone(value));
  else if (isMap(parent)) parent[last] = clone(value);
  else throw unprocessable(`json patch: path ${path} does not exist`);
}

function remove(document: unknown, path: string): unknown {
  const { parent, last } = parentOf(document, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (isMap(parent) && Object.hasOwn(parent, last)) {
    const old = parent[last];
    delete parent[last];
    return old;
  }
  throw unprocessable(`json patch: path ${path} does not exist`);
}

export function jsonPatch(target: JsonMap, operations: unknown[]): JsonMap {
  const document = clone(target);
  for (const operation of operations) {
    if (!isMap(operation)) throw badRequest("json patch: each operation must be an object");
    const path = String(operation.path ?? "");
    switch (operation.op) {
      case "add":
        add(document, path, operation.value);
        break;
      case "remove":
        remove(document, path);
        break;
      case "replace":
        remove(document, path);
        add(document, path, operation.value);
        break;
      case "move": {
        const value = remove(document, String(operation.from ?? ""));
        add(document, path, value);
        break;
      }
      case "copy":
        add(document, path, read(document, String(operation.from ?? "")));
        break;
      case "test":
        if (!jsonEqual(read(document, path), operation.value)) {
          throw unprocessable(`json patch: test operation failed at ${path}`);
        }
        break;
      default:
        throw badRequest(`json patch: unknown operation ${JSON.stringify(operation.op)}`);
    }
  }
  return document;
}
