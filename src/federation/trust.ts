// What a member cluster is trusted to say (docs/trust.md): its own shards in the namespaces it may
// federate, its own nodes' locations within the zones/regions it may claim, TTLs within its bounds,
// and addresses federation/addresses.ts allows. One home for these decisions; plan() asks here.
// Pure.
import { addressProblem, type Network } from "./addresses.ts";
import { compare } from "./health.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import type { Place } from "./location.ts";
import type { PlanWarningKind } from "./state.ts";

/** The operator's word about one member cluster (config `clusters[].trust`). */
export interface ClusterPolicy {
  /** Namespaces whose Services this cluster may federate; undefined or empty: all. */
  namespaces?: readonly string[];
  /** Zones it may claim; undefined: whatever its nodes say, except zones another cluster's policy lists. */
  zones?: readonly string[];
  /** Regions it may claim; undefined: whatever its nodes say, except regions another cluster's policy lists. */
  regions?: readonly string[];
  /** Bounds for its `fedns.io/ttl` annotations, inside the federation's own min/max. */
  ttl?: { min?: number; max?: number };
  /** Networks its load-balancer addresses must be in; undefined: any address that is not special-purpose. */
  allowedNetworks?: readonly Network[];
}

export interface FederationPolicy {
  clusters: ReadonlyMap<string, ClusterPolicy>;
  limits: Limits;
}

export const OPEN_POLICY: FederationPolicy = { clusters: new Map(), limits: DEFAULT_LIMITS };

/** Warning kinds of the trust rules and the limits: counted per cluster (fedns_controller_refused_total). */
export function isPolicyKind(kind: PlanWarningKind): boolean {
  return kind.endsWith("-refused") || kind.startsWith("limit-");
}

/** The policy of a plan, with the claims of every cluster indexed once. */
export class Trust {
  readonly limits: Limits;
  private readonly clusters: ReadonlyMap<string, ClusterPolicy>;
  /** Zone -> the clusters whose policy lists it. */
  private readonly zoneClaims = new Map<string, string[]>();
  private readonly regionClaims = new Map<string, string[]>();

  constructor(policy: FederationPolicy = OPEN_POLICY) {
    this.limits = policy.limits;
    this.clusters = policy.clusters;
    for (const name of [...policy.clusters.keys()].sort(compare)) {
      const cluster = policy.clusters.get(name)!;
      for (const zone of cluster.zones ?? []) push(this.zoneClaims, zone.toLowerCase(), name);
      for (const region of cluster.regions ?? []) push(this.regionClaims, region.toLowerCase(), name);
    }
  }

  /** Why `cluster` may not federate Services of `namespace`, or undefined. */
  namespaceProblem(cluster: string, namespace: string): string | undefined {
    const allowed = this.clusters.get(cluster)?.namespaces;
    if (allowed === undefined || allowed.length === 0 || allowed.includes(namespace)) return undefined;
    return `namespace ${JSON.stringify(namespace)} is not in this cluster's trust.namespaces; its services there are not federated`;
  }

  /** Why `address` may not be published for `cluster`, or undefined. */
  addressProblem(cluster: string, address: string): string | undefined {
    return addressProblem(address, this.clusters.get(cluster)?.allowedNetworks);
  }

  /**
   * What `cluster` may claim of `place`: the place, the place without its zone (the region is the
   * cluster's to claim but the zone is not), or undefined; `problem` says why something was refused.
   */
  admitPlace(cluster: string, place: Place): { place?: Place; problem?: string } {
    const regionProblem = this.claimProblem(cluster, "region", place.region, this.regionClaims);
    if (regionProblem !== undefined) return { problem: regionProblem };
    if (place.zone === undefined) return { place };
    const zoneProblem = this.claimProblem(cluster, "zone", place.zone, this.zoneClaims);
    if (zoneProblem !== undefined) return { place: { region: place.region }, problem: zoneProblem };
    return { place };
  }

  /** The TTL bounds of `cluster`: the federation's, narrowed by its policy. */
  ttlBounds(cluster: string, federation: { min: number; max: number }): { min: number; max: number } {
    const own = this.clusters.get(cluster)?.ttl;
    const min = Math.max(federation.min, own?.min ?? federation.min);
    const max = Math.min(federation.max, own?.max ?? federation.max);
    return min <= max ? { min, max } : { min: max, max };
  }

  private claimProblem(
    cluster: string,
    what: "zone" | "region",
    value: string,
    claims: ReadonlyMap<string, string[]>,
  ): string | undefined {
    const own = what === "zone" ? this.clusters.get(cluster)?.zones : this.clusters.get(cluster)?.regions;
    if (own !== undefined) {
      if (own.some((allowed) => allowed.toLowerCase() === value)) return undefined;
      return `${what} ${JSON.stringify(value)} is not in this cluster's trust.${what}s; not claimed`;
    }
    const owners = claims.get(value);
    if (owners === undefined) return undefined;
    return `${what} ${JSON.stringify(value)} is claimed by cluster ${owners.join(", ")} in the config; not claimed`;
  }
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
