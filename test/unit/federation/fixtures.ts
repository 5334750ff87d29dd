// Small builders for federation states, and a readable summary of a plan, for the plan() tables.
import type {
  ClusterState,
  ClusterStatus,
  EndpointInfo,
  FederationState,
  LoadBalancerIngress,
  Location,
  Plan,
  PlanOptions,
  ServicePort,
  ServiceShard,
} from "../../../src/federation/state.ts";
import { hostType, type SkydnsService } from "../../../src/records/service.ts";

export const OPTIONS: PlanOptions = {
  federation: "myfed",
  domain: "example.com",
  prefix: "/skydns",
  owner: "fedns/myfed",
  ttl: { default: 30, min: 5, max: 3600 },
  srv: { priority: 10, weight: 100 },
  namespaces: [],
};

export interface ServiceSpec {
  namespace?: string;
  name?: string;
  type?: string;
  annotations?: Record<string, string>;
  ports?: ServicePort[];
  /** Ingress IPs; `ingress` overrides. */
  ips?: string[];
  ingress?: LoadBalancerIngress[];
  /** Default: one ready endpoint without location. */
  endpoints?: EndpointInfo[];
}

export function svc(spec: ServiceSpec = {}): ServiceShard {
  return {
    namespace: spec.namespace ?? "default",
    name: spec.name ?? "nginx",
    type: spec.type ?? "LoadBalancer",
    annotations: spec.annotations ?? {},
    ports: spec.ports ?? [],
    ingress: spec.ingress ?? (spec.ips ?? []).map((ip) => ({ ip })),
    endpoints: spec.endpoints ?? [{ ready: true }],
  };
}

export interface ClusterSpec {
  status?: ClusterStatus;
  config?: Location;
  nodes?: Record<string, Location>;
  services?: ServiceShard[];
  resolved?: Record<string, string[]>;
}

export function cluster(name: string, spec: ClusterSpec = {}): ClusterState {
  return {
    name,
    status: spec.status ?? "active",
    configLocation: spec.config ?? {},
    nodes: new Map(Object.entries(spec.nodes ?? {})),
    services: new Map((spec.services ?? []).map((shard) => [`${shard.namespace}/${shard.name}`, shard])),
    resolvedHostnames: new Map(Object.entries(spec.resolved ?? {})),
  };
}

export function federation(...clusters: ClusterState[]): FederationState {
  return { clusters: new Map(clusters.map((c) => [c.name, c])) };
}

/** A cluster with one node in zone/region and the given services. */
export function zonal(name: string, zone: string, region: string, services: ServiceShard[], spec: ClusterSpec = {}) {
  return cluster(name, { nodes: { [`${name}-node`]: { zone, region } }, services, ...spec });
}

const GLOBAL = "nginx.default.myfed.svc";
const DOMAIN = ".example.com";

function short(name: string): string {
  const local = name.endsWith(DOMAIN) ? name.slice(0, -DOMAIN.length) : name;
  return local.replace(GLOBAL, "@");
}

/** One line per record of a service, sorted: `@.zone.region A 198.51.100.1 c1`, `@.r CNAME @`, `_http._tcp.@ SRV 80 @`. */
export function summary(plan: Plan, service = "default/nginx"): string[] {
  const records = plan.services.get(service);
  if (records === undefined) return [];
  return [...records.values()].map(describe).sort();
}

export function describe(record: SkydnsService): string {
  const name = short(record.group ?? "?");
  if (record.port !== undefined) return `${name} SRV ${record.port} ${short(record.host)}`;
  const type = hostType(record.host);
  if (type.kind === "CNAME") return `${name} CNAME ${short(record.host)}`;
  return `${name} ${type.kind} ${record.host} ${record.cluster}`;
}

/** `kind cluster service` of every warning, sorted (messages are checked where they matter). */
export function warningKinds(plan: Plan): string[] {
  return plan.warnings.map((w) => [w.kind, w.cluster ?? "-", w.service ?? "-"].join(" ")).sort();
}
