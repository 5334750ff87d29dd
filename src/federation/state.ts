// The federation state: what the controller keeps of each member cluster, reduced to the
// fields the record rules need. Filled by controller/ from informers, read by plan().

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
  labels: Record<string, string>;
  ports: ServicePort[];
  ingress: LoadBalancerIngress[];
  /** Endpoints from every EndpointSlice of the Service in this cluster. */
  endpoints: EndpointInfo[];
}

/**
 * - active: synced and reachable (or unreachable within the grace period): its shards count.
 * - stale: unreachable past the grace period: its shards are withdrawn, except where they hold
 *   the last addresses a service has anywhere.
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
}

export interface FederationState {
  clusters: Map<string, ClusterState>;
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
}
