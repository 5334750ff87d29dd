// OpenAPI v3 documents for the served group-versions: enough for kubectl to find, for each kind,
// the PATCH operation that supports `fieldValidation` (so it leaves validation to the server),
// plus schemas of the served kinds for `kubectl explain`.
import { createHash } from "node:crypto";
import { apiVersionOf, GROUP_VERSIONS, type ResourceType, typesOf } from "./resources.ts";

type Schema = Record<string, unknown>;

const str: Schema = { type: "string" };
const int: Schema = { type: "integer", format: "int32" };
const bool: Schema = { type: "boolean" };
const strMap: Schema = { type: "object", additionalProperties: str };
const ref = (name: string): Schema => ({ allOf: [{ $ref: `#/components/schemas/${name}` }] });
const arrayOf = (items: Schema, extra: Schema = {}): Schema => ({ type: "array", items, ...extra });
const object = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: "object",
  properties,
  ...extra,
});

const META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

function common(): Record<string, Schema> {
  return {
    [META]: object({
      name: str,
      generateName: str,
      namespace: str,
      uid: str,
      resourceVersion: str,
      generation: { type: "integer", format: "int64" },
      creationTimestamp: { type: "string", format: "date-time" },
      deletionTimestamp: { type: "string", format: "date-time" },
      labels: strMap,
      annotations: strMap,
      finalizers: arrayOf(str, { "x-kubernetes-patch-strategy": "merge" }),
      ownerReferences: arrayOf(object({}, { "x-kubernetes-preserve-unknown-fields": true }), {
        "x-kubernetes-patch-merge-key": "uid",
        "x-kubernetes-patch-strategy": "merge",
      }),
      managedFields: arrayOf(object({}, { "x-kubernetes-preserve-unknown-fields": true })),
    }),
    [LIST_META]: object({ resourceVersion: str, continue: str, remainingItemCount: { type: "integer" } }),
    [STATUS]: object({
      kind: str,
      apiVersion: str,
      status: str,
      message: str,
      reason: str,
      code: int,
      details: object({}, { "x-kubernetes-preserve-unknown-fields": true }),
    }),
  };
}

function coreSchemas(): Record<string, Schema> {
  const condition = object({ type: str, status: str, reason: str, message: str, lastTransitionTime: str });
  return {
    "io.k8s.api.core.v1.ServicePort": object(
      {
        name: str,
        protocol: str,
        appProtocol: str,
        port: int,
        targetPort: { "x-kubernetes-int-or-string": true },
        nodePort: int,
      },
      { required: ["port"] },
    ),
    "io.k8s.api.core.v1.ServiceSpec": object({
      type: str,
      ports: arrayOf(ref("io.k8s.api.core.v1.ServicePort"), {
        "x-kubernetes-list-map-keys": ["port", "protocol"],
        "x-kubernetes-list-type": "map",
        "x-kubernetes-patch-merge-key": "port",
        "x-kubernetes-patch-strategy": "merge",
      }),
      selector: strMap,
      clusterIP: str,
      clusterIPs: arrayOf(str),
      externalIPs: arrayOf(str),
      externalName: str,
      externalTrafficPolicy: str,
      internalTrafficPolicy: str,
      ipFamilies: arrayOf(str),
      ipFamilyPolicy: str,
      loadBalancerIP: str,
      loadBalancerClass: str,
      loadBalancerSourceRanges: arrayOf(str),
      allocateLoadBalancerNodePorts: bool,
      sessionAffinity: str,
      publishNotReadyAddresses: bool,
    }),
    "io.k8s.api.core.v1.LoadBalancerIngress": object({
      ip: str,
      hostname: str,
      ipMode: str,
      ports: arrayOf(object({ port: int, protocol: str, error: str })),
    }),
    "io.k8s.api.core.v1.ServiceStatus": object({
      loadBalancer: object({ ingress: arrayOf(ref("io.k8s.api.core.v1.LoadBalancerIngress")) }),
      conditions: arrayOf(condition),
    }),
    "io.k8s.api.core.v1.Service": kindSchema("", "Service", {
      spec: ref("io.k8s.api.core.v1.ServiceSpec"),
      status: ref("io.k8s.api.core.v1.ServiceStatus"),
    }),
    "io.k8s.api.core.v1.Node": kindSchema("", "Node", {
      spec: object({
        podCIDR: str,
        providerID: str,
        unschedulable: bool,
        taints: arrayOf(object({ key: str, value: str, effect: str })),
      }),
      status: object({
        addresses: arrayOf(object({ type: str, address: str }), {
          "x-kubernetes-patch-merge-key": "type",
          "x-kubernetes-patch-strategy": "merge",
        }),
        conditions: arrayOf(condition, {
          "x-kubernetes-patch-merge-key": "type",
          "x-kubernetes-patch-strategy": "merge",
        }),
        nodeInfo: object({}, { "x-kubernetes-preserve-unknown-fields": true }),
        capacity: strMap,
        allocatable: strMap,
      }),
    }),
    "io.k8s.api.core.v1.Namespace": kindSchema("", "Namespace", {
      spec: object({ finalizers: arrayOf(str) }),
      status: object({ phase: str, conditions: arrayOf(condition) }),
    }),
  };
}

function discoverySchemas(): Record<string, Schema> {
  return {
    "io.k8s.api.discovery.v1.Endpoint": object(
      {
        addresses: arrayOf(str, { "x-kubernetes-list-type": "set" }),
        conditions: object({ ready: bool, serving: bool, terminating: bool }),
        hostname: str,
        nodeName: str,
        zone: str,
        targetRef: object({}, { "x-kubernetes-preserve-unknown-fields": true }),
        hints: object({}, { "x-kubernetes-preserve-unknown-fields": true }),
      },
      { required: ["addresses"] },
    ),
    "io.k8s.api.discovery.v1.EndpointPort": object({ name: str, protocol: str, port: int, appProtocol: str }),
    "io.k8s.api.discovery.v1.EndpointSlice": kindSchema(
      "discovery.k8s.io",
      "EndpointSlice",
      {
        addressType: str,
        endpoints: arrayOf(ref("io.k8s.api.discovery.v1.Endpoint"), { "x-kubernetes-list-type": "atomic" }),
        ports: arrayOf(ref("io.k8s.api.discovery.v1.EndpointPort"), { "x-kubernetes-list-type": "atomic" }),
      },
      ["addressType", "endpoints"],
    ),
  };
}

function kindSchema(group: string, kind: string, properties: Record<string, Schema>, required?: string[]): Schema {
  return object(
    { apiVersion: str, kind: str, metadata: ref(META), ...properties },
    {
      "x-kubernetes-group-version-kind": [{ group, kind, version: "v1" }],
      ...(required ? { required } : {}),
    },
  );
}

export function schemaName(type: ResourceType): string {
  return type.group === "" ? `io.k8s.api.core.v1.${type.kind}` : `io.k8s.api.discovery.v1.${type.kind}`;
}

function param(name: string, where: "query" | "path", schema: Schema = str): Schema {
  return { name, in: where, schema, ...(where === "path" ? { required: true } : {}), uniqueItems: true };
}

function operation(type: ResourceType, action: string, params: Schema[], body: boolean): Schema {
  const op: Schema = {
    operationId: `${action}${type.kind}`,
    parameters: params,
    responses: {
      "200": { description: "OK", content: { "application/json": { schema: ref(schemaName(type)) } } },
      "401": { description: "Unauthorized" },
    },
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": { group: type.group, version: type.version, kind: type.kind },
  };
  if (body) {
    op.requestBody = { content: { "application/json": { schema: ref(schemaName(type)) } }, required: true };
  }
  return op;
}

function paths(type: ResourceType): Record<string, Schema> {
  const base = type.group === "" ? "/api/v1" : `/apis/${apiVersionOf(type)}`;
  const scope = type.namespaced ? `${base}/namespaces/{namespace}/${type.resource}` : `${base}/${type.resource}`;
  const scopeParams = type.namespaced ? [param("namespace", "path")] : [];
  const write = [param("dryRun", "query"), param("fieldManager", "query"), param("fieldValidation", "query")];
  const listParams = [
    "labelSelector",
    "fieldSelector",
    "resourceVersion",
    "timeoutSeconds",
    "watch",
    "allowWatchBookmarks",
  ].map((p) => param(p, "query"));
  const item = `${scope}/{name}`;
  const itemParams = [...scopeParams, param("name", "path")];
  const result: Record<string, Schema> = {
    [scope]: {
      get: operation(type, "list", [...scopeParams, ...listParams], false),
      post: operation(type, "post", [...scopeParams, ...write], true),
    },
    [item]: {
      get: operation(type, "get", itemParams, false),
      put: operation(type, "put", [...itemParams, ...write], true),
      patch: operation(type, "patch", [...itemParams, ...write, param("force", "query", bool)], false),
      delete: operation(type, "delete", itemParams, false),
    },
  };
  if (type.hasStatus) {
    result[`${item}/status`] = {
      get: operation(type, "get", itemParams, false),
      put: operation(type, "put", [...itemParams, ...write], true),
      patch: operation(type, "patch", [...itemParams, ...write], false),
    };
  }
  return result;
}

export function groupVersionPath(group: string, version: string): string {
  return group === "" ? `api/${version}` : `apis/${group}/${version}`;
}

const documents = new Map<string, unknown>();

export function openApiDocument(group: string, version: string): unknown | undefined {
  const key = `${group}/${version}`;
  if (!documents.has(key)) documents.set(key, buildDocument(group, version));
  return documents.get(key);
}

function buildDocument(group: string, version: string): unknown | undefined {
  const types = typesOf(group, version);
  if (types.length === 0) return undefined;
  const schemas = { ...common(), ...(group === "" ? coreSchemas() : discoverySchemas()) };
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes (fedns sim)", version: "v1.32.0" },
    paths: Object.assign({}, ...types.map(paths)),
    components: { schemas },
  };
}

/** The root document: one entry per group-version, its URL carrying a content hash as the real server does. */
export function openApiRoot(): unknown {
  const entries: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of GROUP_VERSIONS) {
    const path = groupVersionPath(gv.group, gv.version);
    const hash = createHash("sha512")
      .update(JSON.stringify(openApiDocument(gv.group, gv.version)))
      .digest("hex")
      .slice(0, 128)
      .toUpperCase();
    entries[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  return { paths: entries };
}
