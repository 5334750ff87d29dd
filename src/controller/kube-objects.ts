// Kubernetes objects reduced to the few fields the record rules need, the moment they arrive:
// the controller never keeps a full Service, EndpointSlice or Node in memory.
// Input is whatever the API server sent (watch JSON or list items); anything malformed gives
// undefined, which the caller logs, counts and skips.
import type { NodeNetworks } from "../federation/short-names.ts";
import type { EndpointInfo, LoadBalancerIngress, Location, ServicePort, ServiceShard } from "../federation/state.ts";

/** A Service without its endpoints (those come from EndpointSlices). */
export type ServiceInfo = Omit<ServiceShard, "endpoints">;

export interface SliceInfo {
  namespace: string;
  name: string;
  /** `namespace/service` from the `kubernetes.io/service-name` label; undefined for slices of no Service. */
  service: string | undefined;
  endpoints: EndpointInfo[];
}

export interface NodeInfo {
  name: string;
  location: Location;
  /** status.addresses (InternalIP, ExternalIP) and spec.podCIDRs: where its pods ask from (short names). */
  networks: NodeNetworks;
}

/** Addresses and pod CIDRs kept per node, at most (a node is somebody else's object). */
const MAX_NODE_NETWORKS = 16;
/** ClusterIPs kept per Service, at most (Kubernetes allows two: one per family). */
const MAX_CLUSTER_IPS = 2;

export interface ObjectMeta {
  namespace: string;
  name: string;
  resourceVersion: string | undefined;
}

const ANNOTATION_PREFIX = "fedns.io/";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const ZONE_LABELS = ["topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"];
const REGION_LABELS = ["topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"];

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function string(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function stringMap(value: unknown, keep: (key: string) => boolean = () => true): Record<string, string> {
  const out: Record<string, string> = {};
  const source = object(value);
  if (source === undefined) return out;
  for (const [key, item] of Object.entries(source)) {
    if (typeof item === "string" && keep(key)) out[key] = item;
  }
  return out;
}

export function metaOf(raw: unknown): ObjectMeta | undefined {
  const metadata = object(object(raw)?.metadata);
  const name = string(metadata?.name);
  if (metadata === undefined || name === undefined) return undefined;
  return {
    namespace: string(metadata.namespace) ?? "",
    name,
    resourceVersion: string(metadata.resourceVersion),
  };
}

/** `namespace/name` (or `name` for cluster-scoped objects). */
export function keyOf(meta: ObjectMeta): string {
  return meta.namespace === "" ? meta.name : `${meta.namespace}/${meta.name}`;
}

export function reduceService(raw: unknown): ServiceInfo | undefined {
  const meta = metaOf(raw);
  const spec = object(object(raw)?.spec);
  if (meta === undefined || meta.namespace === "" || spec === undefined) return undefined;
  const ports: ServicePort[] = [];
  for (const item of array(spec.ports)) {
    const port = object(item);
    if (port === undefined || typeof port.port !== "number") continue;
    const name = string(port.name);
    ports.push({ ...(name === undefined ? {} : { name }), protocol: string(port.protocol) ?? "TCP", port: port.port });
  }
  const ingress: LoadBalancerIngress[] = [];
  const loadBalancer = object(object(object(raw)?.status)?.loadBalancer);
  for (const item of array(loadBalancer?.ingress)) {
    const entry = object(item);
    const ip = string(entry?.ip);
    const hostname = string(entry?.hostname);
    if (ip !== undefined) ingress.push({ ip });
    else if (hostname !== undefined) ingress.push({ hostname });
  }
  const metadata = object(object(raw)?.metadata);
  const clusterIPs = array(spec.clusterIPs).length > 0 ? array(spec.clusterIPs) : [spec.clusterIP];
  return {
    namespace: meta.namespace,
    name: meta.name,
    type: string(spec.type) ?? "ClusterIP",
    clusterIPs: clusterIPs
      .map(string)
      .filter((ip): ip is string => ip !== undefined && ip !== "None")
      .slice(0, MAX_CLUSTER_IPS),
    annotations: stringMap(metadata?.annotations, (key) => key.startsWith(ANNOTATION_PREFIX)),
    ports,
    ingress,
  };
}

export function reduceEndpointSlice(raw: unknown): SliceInfo | undefined {
  const meta = metaOf(raw);
  if (meta === undefined || meta.namespace === "") return undefined;
  const labels = stringMap(object(object(raw)?.metadata)?.labels);
  const serviceName = labels[SERVICE_NAME_LABEL];
  const endpoints: EndpointInfo[] = [];
  for (const item of array(object(raw)?.endpoints)) {
    const endpoint = object(item);
    if (endpoint === undefined) continue;
    const ready = object(endpoint.conditions)?.ready;
    const zone = string(endpoint.zone);
    const nodeName = string(endpoint.nodeName);
    endpoints.push({
      ready: typeof ready === "boolean" ? ready : undefined,
      ...(zone === undefined ? {} : { zone }),
      ...(nodeName === undefined ? {} : { nodeName }),
    });
  }
  return {
    namespace: meta.namespace,
    name: meta.name,
    service: serviceName === undefined ? undefined : `${meta.namespace}/${serviceName}`,
    endpoints,
  };
}

export function reduceNode(raw: unknown): NodeInfo | undefined {
  const meta = metaOf(raw);
  if (meta === undefined) return undefined;
  const labels = stringMap(object(object(raw)?.metadata)?.labels);
  const zone = firstLabel(labels, ZONE_LABELS);
  const region = firstLabel(labels, REGION_LABELS);
  const spec = object(object(raw)?.spec);
  const addresses = array(object(object(raw)?.status)?.addresses)
    .map(object)
    .filter((entry) => entry?.type === "InternalIP" || entry?.type === "ExternalIP")
    .map((entry) => string(entry?.address))
    .filter((address): address is string => address !== undefined);
  const cidrs = array(spec?.podCIDRs).length > 0 ? array(spec?.podCIDRs) : [spec?.podCIDR];
  return {
    name: meta.name,
    location: { ...(zone === undefined ? {} : { zone }), ...(region === undefined ? {} : { region }) },
    networks: {
      addresses: [...new Set(addresses)].slice(0, MAX_NODE_NETWORKS),
      podCIDRs: [...new Set(cidrs.map(string).filter((cidr): cidr is string => cidr !== undefined))].slice(
        0,
        MAX_NODE_NETWORKS,
      ),
    },
  };
}

function firstLabel(labels: Record<string, string>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined && value.length > 0) return value;
  }
  return undefined;
}
