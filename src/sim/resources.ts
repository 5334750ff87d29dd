// The resource types the simulator serves, with what discovery, routing and selectors need to know.
import type { KubeObject } from "./types.ts";

export interface ResourceType {
  /** Plural resource name, as in URLs: "services". */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  group: string;
  version: string;
  namespaced: boolean;
  shortNames: string[];
  hasStatus: boolean;
  /** Field selector labels the real API server supports for this type, beyond metadata.name/namespace. */
  fields: Record<string, (object: KubeObject) => string | undefined>;
}

export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

function path(object: KubeObject, ...keys: string[]): string | undefined {
  let value: unknown = object;
  for (const key of keys) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined || value === null) return undefined;
  return String(value);
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    resource: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    listKind: "NamespaceList",
    group: "",
    version: "v1",
    namespaced: false,
    shortNames: ["ns"],
    hasStatus: true,
    fields: { "status.phase": (o) => path(o, "status", "phase") },
  },
  {
    resource: "nodes",
    singular: "node",
    kind: "Node",
    listKind: "NodeList",
    group: "",
    version: "v1",
    namespaced: false,
    shortNames: ["no"],
    hasStatus: true,
    fields: { "spec.unschedulable": (o) => path(o, "spec", "unschedulable") ?? "false" },
  },
  {
    resource: "services",
    singular: "service",
    kind: "Service",
    listKind: "ServiceList",
    group: "",
    version: "v1",
    namespaced: true,
    shortNames: ["svc"],
    hasStatus: true,
    fields: {
      "spec.clusterIP": (o) => path(o, "spec", "clusterIP") ?? "",
      "spec.type": (o) => path(o, "spec", "type") ?? "",
    },
  },
  {
    resource: "endpointslices",
    singular: "endpointslice",
    kind: "EndpointSlice",
    listKind: "EndpointSliceList",
    group: "discovery.k8s.io",
    version: "v1",
    namespaced: true,
    shortNames: [],
    hasStatus: false,
    fields: { addressType: (o) => path(o, "addressType") },
  },
];

export const GROUP_VERSIONS: readonly { group: string; version: string }[] = [
  { group: "", version: "v1" },
  { group: "discovery.k8s.io", version: "v1" },
];

export function typesOf(group: string, version: string): ResourceType[] {
  return RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
}

export function typeByPath(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.resource === resource);
}

/** Finds a type by kind ("Service"), plural ("services"), singular or short name, case-insensitively. */
export function typeByName(name: string): ResourceType | undefined {
  const wanted = name.toLowerCase();
  return RESOURCE_TYPES.find(
    (t) =>
      t.kind.toLowerCase() === wanted ||
      t.resource === wanted ||
      t.singular === wanted ||
      t.shortNames.includes(wanted),
  );
}

export function requireType(name: string): ResourceType {
  const type = typeByName(name);
  if (type === undefined) throw new Error(`unknown resource type "${name}"`);
  return type;
}

export function typeOfObject(object: KubeObject): ResourceType {
  const type = RESOURCE_TYPES.find((t) => t.kind === object.kind && apiVersionOf(t) === object.apiVersion);
  if (type === undefined) throw new Error(`unsupported object ${object.apiVersion}/${object.kind}`);
  return type;
}
