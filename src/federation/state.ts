// The federation state: what the controller keeps of each member cluster, reduced to the
// fields the record rules need. Filled by controller/ from informers, read by plan().
import type { SkydnsService } from "../records/service.ts";
import type { LimitName } from "./limits.ts";
import type { FederationPolicy } from "./trust.ts";

export interface Location {
  zone?: string;
  region?: string;
}

export interface ServicePort {
  /** Port name; only named ports get SRV records. */
  name?: string;
  /** TCP, UDP or SCTP as in the Service spec. */
  protocol: string;
  port: number;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

export interface EndpointInfo {
  /** conditions.ready; undefined counts as ready (Kubernetes semantics). */
  ready: boolean | undefined;
  zone?: string;
  nodeName?: string;
}

/** One Service in one member cluster: a shard, before the health and location rules are applied. */
export interface ServiceShard {
  namespace: string;
  name: string;
  /** spec.type; only LoadBalancer is federated. */
  type: string;
  /** Only the fedns.io/* annotations are kept. */
  annotations: Record<string, string>;
  ports: ServicePort[];
  ingress: LoadBalancerIngress[];
  /** Endpoints from every EndpointSlice of the Service in this cluster. */
  endpoints: EndpointInfo[];
  /** spec.clusterIPs (short names answer a cluster's own pods with them). */
  clusterIPs?: string[];
}

/**
 * - active: synced (reachable, or unreachable since `unreachableSince`: plan() applies the grace period,
 *   federation/grace.ts): its shards count.
 * - stale: withdrawn (unreachable past the grace period, or back but not listed again yet): its shards
 *   are withdrawn, except where they hold the last addresses a service has anywhere.
 */
export type ClusterStatus = "active" | "stale";

export interface ClusterState {
  name: string;
  status: ClusterStatus;
  /** zone/region from the cluster's config, used when nodes carry no labels. */
  configLocation: Location;
  /** Node name -> its zone/region labels. */
  nodes: Map<string, Location>;
  /** Keyed `namespace/name`. */
  services: Map<string, ServiceShard>;
  /** LB hostname -> addresses it resolved to (resolved by the controller, refreshed periodically). */
  resolvedHostnames: Map<string, string[]>;
  /** Every shard of the cluster when `services` holds only some (incremental plans): per-cluster limits count them all. */
  allServices?: ReadonlyMap<string, ServiceShard>;
  /** Since when the API server has been failing (clock of FederationState.now); past the grace period it is stale. */
  unreachableSince?: number;
  /**
   * The number of load-balancer entries over all its shards, when the caller keeps it: within the cluster's record
   * budget, plan() admits every shard without a pass over them.
   */
  recordCost?: number;
}

export interface FederationState {
  /** The clusters whose objects are known (synced at least once). */
  clusters: Map<string, ClusterState>;
  /** Member clusters that have not synced (yet): name -> since when they are watched. */
  unseen?: ReadonlyMap<string, number>;
  /**
   * The last known records of unseen clusters: unit -> the `cluster` fields of the records of ours the store
   * holds for it (undefined: records of no cluster). Only units the plan covers need be present.
   */
  lastKnown?: ReadonlyMap<string, ReadonlySet<string | undefined>>;
  /** Now, on the controller's clock: grace periods are measured against it. Absent: no grace period ends. */
  now?: number;
}

export interface PlanOptions {
  federation: string;
  /** The DNS zone records are written under, e.g. `example.com`. */
  domain: string;
  /** etcd key prefix, default `/skydns`. */
  prefix: string;
  /** Value of the `owner` field: `fedns/<federation>`. */
  owner: string;
  ttl: { default: number; min: number; max: number };
  srv: { priority: number; weight: number };
  /** Namespaces to federate (empty: all). */
  namespaces: string[];
  /** Per-cluster trust and the limits (federation/trust.ts); absent: no per-cluster policy, default limits. */
  policy?: FederationPolicy;
  /** How long an unreachable or unsynced cluster keeps its records (federation/grace.ts; default 60 s). */
  graceMs?: number;
}

export type PlanWarningKind =
  /** A zone, region, namespace, service, port or cluster name that is not a valid DNS label. */
  | "invalid-label"
  /** A composed name that cannot be written (longer than 253 characters). */
  | "invalid-name"
  /** A zone whose region is unknown (node labels or config without a region, or an endpoint zone no node maps). */
  | "zone-without-region"
  /** A healthy shard with no zone/region anywhere: it contributes to the global name only. */
  | "no-location"
  /** A `fedns.io/ttl` annotation that is not an integer number of seconds: the default TTL is used. */
  | "bad-ttl"
  /** An ingress IP (or a resolved LB hostname address) that is not an IP address. */
  | "invalid-address"
  /** An address the trust rules refuse (special-purpose, private without allow-list, outside allowedNetworks). */
  | "address-refused"
  /** A load-balancer hostname that is never resolved (federation/hostnames.ts: syntax, single label, special-use). */
  | "hostname-refused"
  /** A Service in a namespace the cluster may not federate. */
  | "namespace-refused"
  /** A zone or region the cluster may not claim. */
  | "location-refused"
  /** A `fedns.io/ttl` outside the cluster's TTL floor/ceiling: clamped. */
  | "ttl-refused"
  /** Something past a limit (federation/limits.ts): the excess is dropped. */
  | `limit-${LimitName}`;

/** Something plan() skipped or worked around; the controller logs and counts these. */
export interface PlanWarning {
  kind: PlanWarningKind;
  cluster?: string;
  /** `namespace/name`. */
  service?: string;
  message: string;
}

export interface Plan {
  /**
   * `namespace/name` -> etcd key -> value: the complete desired record set of each service.
   * Every service present in some cluster has an entry; the map is empty when the service
   * publishes nothing (not federated, no healthy shard, invalid name). A service absent from
   * every cluster is absent here. Both mean: delete everything of it.
   */
  services: Map<string, Map<string, SkydnsService>>;
  /** Units to leave exactly as the store holds them (grace.ts): not written, not deleted. */
  held: Map<string, HeldUnit>;
  /** When a grace period ends and the plan may change without any event: plan again then. */
  recheckAt?: number;
  warnings: PlanWarning[];
}

/** Why a unit is left as the store holds it, and the unseen clusters it is held for. */
export interface HeldUnit {
  /** syncing: a cluster within its grace period; last-addresses: a cluster past it holds the unit's only addresses. */
  reason: "syncing" | "last-addresses";
  clusters: string[];
}
