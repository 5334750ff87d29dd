// Legacy (unaggregated) discovery documents: kubectl falls back to them when aggregated discovery is declined.
import { apiVersionOf, GROUP_VERSIONS, type ResourceType, typesOf } from "./resources.ts";

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

export function versionInfo(): Record<string, string> {
  return {
    major: "1",
    minor: "32",
    gitVersion: "v1.32.0-fedns-sim",
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2025-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: `${process.platform}/${process.arch}`,
  };
}

export function coreVersions(serverAddress: string): unknown {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

export function groupList(): unknown {
  const groups = GROUP_VERSIONS.filter((gv) => gv.group !== "").map((gv) => {
    const version = { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
    return { name: gv.group, versions: [version], preferredVersion: version };
  });
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

export function group(name: string): unknown | undefined {
  const versions = GROUP_VERSIONS.filter((gv) => gv.group === name).map((gv) => ({
    groupVersion: `${gv.group}/${gv.version}`,
    version: gv.version,
  }));
  if (versions.length === 0) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", name, versions, preferredVersion: versions[0] };
}

function entries(type: ResourceType): unknown[] {
  const main = {
    name: type.resource,
    singularName: type.singular,
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: type.kind === "Namespace" || type.kind === "Node" ? VERBS : [...VERBS, "deletecollection"].sort(),
    shortNames: type.shortNames.length > 0 ? type.shortNames : undefined,
    categories: type.kind === "Service" ? ["all"] : undefined,
  };
  if (!type.hasStatus) return [main];
  const status = {
    name: `${type.resource}/status`,
    singularName: "",
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: ["get", "patch", "update"],
  };
  return [main, status];
}

export function resourceList(groupName: string, version: string): unknown | undefined {
  const types = typesOf(groupName, version);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: types[0] === undefined ? version : apiVersionOf(types[0]),
    resources: types.flatMap(entries),
  };
}
