// Server-side behaviour of writes: defaulting, immutable fields, generation, and validation (422 Invalid).
import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import { badRequest, invalid, type StatusCause } from "./errors.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import { isMap, type JsonMap, jsonEqual, type KubeObject } from "./types.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS = ["TCP", "UDP", "SCTP"];

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** Allocates ClusterIPs from 10.96.0.0/16, never twice in one cluster. */
export class ClusterIpAllocator {
  private next = 10;
  allocate(): string {
    const n = this.next++;
    return `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
  }
}

/**
 * Turns a client's object into what the server stores: identity and timestamps kept from the
 * existing object, defaults filled, generation bumped when the spec changes.
 */
export function prepareWrite(
  type: ResourceType,
  incoming: KubeObject,
  existing: KubeObject | undefined,
  ips: ClusterIpAllocator,
): KubeObject {
  const object: KubeObject = { ...incoming, apiVersion: apiVersionOf(type), kind: type.kind };
  const metadata = { ...incoming.metadata };
  if (!type.namespaced) delete metadata.namespace;
  metadata.uid = existing?.metadata.uid ?? randomUUID();
  metadata.creationTimestamp = existing?.metadata.creationTimestamp ?? timestamp();
  if (existing?.metadata.deletionTimestamp !== undefined)
    metadata.deletionTimestamp = existing.metadata.deletionTimestamp;
  if (type.kind !== "Namespace" && type.kind !== "Node" && type.kind !== "EndpointSlice") {
    const specChanged = existing === undefined || !jsonEqual(existing.spec, incoming.spec);
    const previous = existing?.metadata.generation ?? 0;
    metadata.generation = specChanged ? previous + 1 : previous;
  }
  delete metadata.managedFields;
  object.metadata = metadata;
  if (type.kind === "Service") defaultService(object, existing, ips);
  if (type.kind === "Namespace") defaultNamespace(object);
  return object;
}

function defaultService(object: KubeObject, existing: KubeObject | undefined, ips: ClusterIpAllocator): void {
  const spec: JsonMap = isMap(object.spec) ? { ...object.spec } : {};
  const oldSpec: JsonMap = existing !== undefined && isMap(existing.spec) ? existing.spec : {};
  spec.type ??= "ClusterIP";
  if (spec.type !== "ExternalName") {
    if (spec.clusterIP === undefined || spec.clusterIP === "") {
      spec.clusterIP = typeof oldSpec.clusterIP === "string" ? oldSpec.clusterIP : ips.allocate();
    }
    spec.clusterIPs ??= spec.clusterIP === "None" ? ["None"] : [spec.clusterIP];
    spec.ipFamilies ??= ["IPv4"];
    spec.ipFamilyPolicy ??= "SingleStack";
    spec.sessionAffinity ??= "None";
    spec.internalTrafficPolicy ??= "Cluster";
  }
  if (spec.type === "LoadBalancer" || spec.type === "NodePort") spec.externalTrafficPolicy ??= "Cluster";
  if (Array.isArray(spec.ports)) {
    spec.ports = spec.ports.map((port) => {
      if (!isMap(port)) return port;
      const filled: JsonMap = { ...port };
      filled.protocol ??= "TCP";
      filled.targetPort ??= filled.port;
      return filled;
    });
  }
  object.spec = spec;
  if (!isMap(object.status)) object.status = { loadBalancer: {} };
}

function defaultNamespace(object: KubeObject): void {
  const labels = { ...(object.metadata.labels ?? {}) };
  labels["kubernetes.io/metadata.name"] = object.metadata.name;
  object.metadata.labels = labels;
  object.spec = isMap(object.spec) ? object.spec : { finalizers: ["kubernetes"] };
  object.status = isMap(object.status) ? object.status : { phase: "Active" };
}

/** The identity checks of every write: body kind and name must fit the URL. */
export function checkIdentity(type: ResourceType, body: unknown, name?: string, namespace?: string): KubeObject {
  if (!isMap(body)) throw badRequest("the request body must be a JSON object");
  if (body.kind !== undefined && body.kind !== type.kind) {
    throw badRequest(`the kind of the object (${String(body.kind)}) does not match ${type.kind}`);
  }
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(type)) {
    throw badRequest(`the API version of the object (${String(body.apiVersion)}) does not match ${apiVersionOf(type)}`);
  }
  const metadata = isMap(body.metadata) ? { ...body.metadata } : {};
  if (name !== undefined) {
    if (metadata.name === undefined || metadata.name === "") metadata.name = name;
    if (metadata.name !== name) throw badRequest("the name of the object does not match the name on the URL");
  }
  if (type.namespaced && namespace !== undefined) {
    if (metadata.namespace === undefined || metadata.namespace === "") metadata.namespace = namespace;
    if (metadata.namespace !== namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
  }
  if (typeof metadata.name !== "string" || metadata.name === "") {
    if (typeof metadata.generateName === "string" && metadata.generateName !== "") {
      metadata.name = `${metadata.generateName}${Math.random().toString(36).slice(2, 7)}`;
    }
  }
  return { ...body, metadata } as KubeObject;
}

/** Validation of what the sim serves; throws 422 Invalid naming every bad field. */
export function validate(type: ResourceType, object: KubeObject): void {
  const causes: StatusCause[] = [];
  const bad = (field: string, message: string, reason = "FieldValueInvalid"): void => {
    causes.push({ reason, message, field });
  };
  const name = object.metadata.name;
  if (typeof name !== "string" || name === "")
    bad("metadata.name", "Required value: name or generateName is required", "FieldValueRequired");
  else if (type.kind === "Namespace" || type.kind === "Service") {
    if (!DNS_LABEL.test(name) || name.length > 63)
      bad(
        "metadata.name",
        `Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-'`,
      );
  } else if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    bad(
      "metadata.name",
      `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
    );
  }
  for (const field of ["labels", "annotations"] as const) {
    const map = object.metadata[field];
    if (map === undefined) continue;
    if (!isMap(map) || Object.values(map).some((v) => typeof v !== "string")) {
      bad(`metadata.${field}`, "Invalid value: values must be strings");
    }
  }
  if (type.kind === "Service") validateService(object, bad);
  if (type.kind === "EndpointSlice") validateEndpointSlice(object, bad);
  if (causes.length > 0) throw invalid(type, String(name ?? ""), causes);
}

type Bad = (field: string, message: string, reason?: string) => void;

function validateService(object: KubeObject, bad: Bad): void {
  const spec = isMap(object.spec) ? object.spec : {};
  const type = spec.type ?? "ClusterIP";
  if (typeof type !== "string" || !SERVICE_TYPES.includes(type)) {
    bad(
      "spec.type",
      `Unsupported value: ${JSON.stringify(type)}: supported values: "${SERVICE_TYPES.join('", "')}"`,
      "FieldValueNotSupported",
    );
  }
  const ports = spec.ports ?? [];
  if (!Array.isArray(ports)) {
    bad("spec.ports", "Invalid value: must be a list");
    return;
  }
  if (ports.length === 0 && type !== "ExternalName" && spec.clusterIP !== "None") {
    bad("spec.ports", "Required value", "FieldValueRequired");
  }
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const field = `spec.ports[${i}]`;
    if (!isMap(port)) {
      bad(field, "Invalid value: must be an object");
      return;
    }
    if (!Number.isInteger(port.port) || (port.port as number) < 1 || (port.port as number) > 65535) {
      bad(`${field}.port`, `Invalid value: ${JSON.stringify(port.port)}: must be between 1 and 65535, inclusive`);
    }
    if (port.protocol !== undefined && !PROTOCOLS.includes(String(port.protocol))) {
      bad(
        `${field}.protocol`,
        `Unsupported value: ${JSON.stringify(port.protocol)}: supported values: "SCTP", "TCP", "UDP"`,
        "FieldValueNotSupported",
      );
    }
    if (ports.length > 1 && (typeof port.name !== "string" || port.name === "")) {
      bad(`${field}.name`, "Required value", "FieldValueRequired");
    }
    if (typeof port.name === "string") {
      if (names.has(port.name)) bad(`${field}.name`, `Duplicate value: "${port.name}"`, "FieldValueDuplicate");
      names.add(port.name);
    }
  });
  const status = isMap(object.status) ? object.status : {};
  const lb = isMap(status.loadBalancer) ? status.loadBalancer : {};
  if (Array.isArray(lb.ingress)) {
    lb.ingress.forEach((ingress, i) => {
      const field = `status.loadBalancer.ingress[${i}]`;
      if (!isMap(ingress)) {
        bad(field, "Invalid value: must be an object");
        return;
      }
      if (ingress.ip !== undefined && isIP(String(ingress.ip)) === 0) {
        bad(`${field}.ip`, `Invalid value: ${JSON.stringify(ingress.ip)}: must be a valid IP address`);
      }
      if (ingress.hostname !== undefined && !DNS_SUBDOMAIN.test(String(ingress.hostname))) {
        bad(`${field}.hostname`, `Invalid value: ${JSON.stringify(ingress.hostname)}: must be a DNS name`);
      }
    });
  }
}

function validateEndpointSlice(object: KubeObject, bad: Bad): void {
  const addressType = object.addressType;
  if (!["IPv4", "IPv6", "FQDN"].includes(String(addressType))) {
    bad(
      "addressType",
      `Unsupported value: ${JSON.stringify(addressType)}: supported values: "FQDN", "IPv4", "IPv6"`,
      "FieldValueNotSupported",
    );
  }
  const endpoints = object.endpoints ?? [];
  if (!Array.isArray(endpoints)) {
    bad("endpoints", "Invalid value: must be a list");
    return;
  }
  endpoints.forEach((endpoint, i) => {
    if (!isMap(endpoint) || !Array.isArray(endpoint.addresses) || endpoint.addresses.length === 0) {
      bad(`endpoints[${i}].addresses`, "Required value: must contain at least 1 address", "FieldValueRequired");
      return;
    }
    endpoint.addresses.forEach((address, j) => {
      const family = isIP(String(address));
      if ((addressType === "IPv4" && family !== 4) || (addressType === "IPv6" && family !== 6)) {
        bad(
          `endpoints[${i}].addresses[${j}]`,
          `Invalid value: ${JSON.stringify(address)}: must be a valid ${String(addressType)} address`,
        );
      }
    });
  });
}
