// Short names (SPEC §4a), the pure part:
// - shortRecords(): what the controller publishes per cluster: the networks its askers come from (explicit
//   `clientNetworks` from config, node addresses as /32 or /128, pod CIDRs), each with the zone and region
//   the asker is in, and the ClusterIPs of the cluster's healthy shards;
// - ClientMap: those networks in a prefix trie, longest prefix wins, on equal prefixes config before node
//   addresses before pod CIDRs (then cluster name order);
// - chooseShortAnswer(): for `S.N.F.svc.<cluster-domain>` asked from a cluster: its own healthy shard, else
//   the zone name of the asker (region, global when those do not exist), the global name for an unknown
//   asker, nothing when the service has no healthy shard anywhere.
import { compare, isHealthy, isSelected, shardAddresses } from "./health.ts";
import { buildLocationUniverse, type LocationUniverse, type Place } from "./location.ts";
import { type ServiceNames, srvName } from "./names.ts";
import { type NetworkBytes, PrefixTrie } from "./prefix-trie.ts";
import {
  type ClientNetworkValue,
  type ClusterServiceValue,
  canonicalNetwork,
  clientKey,
  clientUnit,
  clusterOfShortUnit,
  isClientNetwork,
  NETWORK_SOURCES,
  type NetworkSource,
  networkBytes,
  parseShortKey,
  parseShortUnit,
  type ShortPort,
  type ShortValue,
  serviceKey,
  serviceUnit,
} from "./short-keys.ts";
import type { ClusterState, PlanWarning, ServiceShard } from "./state.ts";
import { type FederationPolicy, Trust } from "./trust.ts";

/** Addresses and pod CIDRs of one node (status.addresses, spec.podCIDRs). */
export interface NodeNetworks {
  addresses: readonly string[];
  podCIDRs: readonly string[];
}

/** A synced member cluster as the publisher sees it. */
export interface ShortSource {
  state: ClusterState;
  /** Explicit client networks from the members config. */
  clientNetworks: readonly string[];
  /** Node name -> its addresses and pod CIDRs. */
  nodeNetworks: ReadonlyMap<string, NodeNetworks>;
  /** Moves whenever the cluster's node locations change (lets callers reuse a location universe). */
  nodesVersion?: number;
}

/** The locations shortUnits() needs, computed once for many calls while the nodes stay the same. */
export type ShortLocations = LocationUniverse;

/** The location universe of the given clusters under the options' policy (as plan() computes it). */
export function shortLocations(sources: readonly ShortSource[], options: ShortOptions): ShortLocations {
  return buildLocationUniverse(
    sources.map((source) => source.state),
    () => {},
    new Trust(options.policy),
  );
}

export interface ShortOptions {
  prefix: string;
  federation: string;
  owner: string;
  /** Namespaces federated (empty: all). */
  namespaces: readonly string[];
  /** Client networks published per cluster, at most (the rest are dropped with a warning). */
  maxNetworksPerCluster: number;
  /** The zones and regions each cluster may claim, as for the records (plan()); default: no policy. */
  policy?: FederationPolicy;
}

export const DEFAULT_MAX_NETWORKS_PER_CLUSTER = 20_000;

/**
 * The desired short-name keys of each given cluster (key -> value). Pure; the location of a node comes from
 * the same rules as the records (location.ts), computed over every cluster given; `only`: the keys of these
 * clusters only (the locations still come from all).
 */
export function shortRecords(
  sources: readonly ShortSource[],
  options: ShortOptions,
  warn: (warning: PlanWarning) => void = () => {},
  only?: ReadonlySet<string>,
): Map<string, Map<string, ShortValue>> {
  const out = new Map<string, Map<string, ShortValue>>();
  for (const source of [...sources].sort((a, b) => compare(a.state.name, b.state.name))) {
    if (only === undefined || only.has(source.state.name)) out.set(source.state.name, new Map());
  }
  for (const [unit, records] of shortUnits(sources, options, warn)) {
    const cluster = clusterOfShortUnit(unit);
    const target = cluster === undefined ? undefined : out.get(cluster);
    if (target !== undefined) for (const [key, value] of records) target.set(key, value);
  }
  return out;
}

/**
 * The desired short-name keys by unit (shortKeyUnit(): a cluster's client networks, or one shard of it), so
 * that a change to one Service rewrites one key. `only`: these units; a service unit whose Service no longer
 * exists in its cluster is absent (its keys go), one whose shard is not healthy maps to nothing.
 */
export function shortUnits(
  sources: readonly ShortSource[],
  options: ShortOptions,
  warn: (warning: PlanWarning) => void = () => {},
  only?: ReadonlySet<string>,
  locations?: ShortLocations,
): Map<string, Map<string, ShortValue>> {
  const universe = locations ?? shortLocations(sources, options);
  const wantedServices = new Map<string, string[]>();
  for (const unit of only ?? []) {
    const parsed = parseShortUnit(unit);
    if (parsed?.kind !== "service") continue;
    const list = wantedServices.get(parsed.cluster) ?? [];
    list.push(`${parsed.namespace}/${parsed.name}`);
    wantedServices.set(parsed.cluster, list);
  }
  const out = new Map<string, Map<string, ShortValue>>();
  for (const source of [...sources].sort((a, b) => compare(a.state.name, b.state.name))) {
    const cluster = source.state.name;
    const clientsUnit = clientUnit(cluster);
    if (only === undefined || only.has(clientsUnit)) {
      out.set(clientsUnit, clientRecords(source, universe.clusterPlaces.get(cluster) ?? [], universe, options, warn));
    }
    const keys =
      only === undefined ? [...source.state.services.keys()].sort(compare) : (wantedServices.get(cluster) ?? []);
    for (const key of keys) {
      const shard = source.state.services.get(key);
      if (shard === undefined) continue;
      const records = new Map<string, ShortValue>();
      const value = source.state.status === "active" ? shardValue(shard, source.state, options) : undefined;
      if (value !== undefined) {
        records.set(serviceKey(options.prefix, options.federation, cluster, shard.namespace, shard.name), value);
      }
      out.set(serviceUnit(cluster, shard.namespace, shard.name), records);
    }
  }
  return out;
}

/** Every unit the given clusters have: their client networks and each of their Services. */
export function shortUnitsOf(sources: readonly ShortSource[]): string[] {
  const units: string[] = [];
  for (const source of sources) {
    units.push(clientUnit(source.state.name));
    for (const shard of source.state.services.values()) {
      units.push(serviceUnit(source.state.name, shard.namespace, shard.name));
    }
  }
  return units;
}

function clientRecords(
  source: ShortSource,
  places: readonly Place[],
  universe: LocationUniverse,
  options: ShortOptions,
  warn: (warning: PlanWarning) => void,
): Map<string, ShortValue> {
  const cluster = source.state.name;
  const networks = new Map<string, ClientNetworkValue>();
  const add = (raw: string, kind: NetworkSource, place: Place | undefined, hostOnly: boolean): void => {
    const network = canonicalNetwork(raw);
    if (network === undefined || (hostOnly && !/\/(32|128)$/.test(network))) {
      warn({ kind: "invalid-address", cluster, message: `client network ${JSON.stringify(raw)} skipped` });
      return;
    }
    if (kind === "pod" && tooWide(network)) {
      // A member cluster speaks for its own nodes' pods, not for every address (an unknown asker's answer).
      warn({
        kind: "address-refused",
        cluster,
        message: `pod CIDR ${network} is wider than /${MIN_POD_PREFIX.v4} (IPv4) or /${MIN_POD_PREFIX.v6} (IPv6); not used to recognise askers`,
      });
      return;
    }
    if (networks.has(network)) return;
    if (networks.size >= options.maxNetworksPerCluster) {
      warn({
        kind: "invalid-address",
        cluster,
        message: `more than ${options.maxNetworksPerCluster} client networks: ${network} and later ones dropped`,
      });
      return;
    }
    networks.set(network, {
      network,
      source: kind,
      ...(place?.zone === undefined ? {} : { zone: place.zone }),
      ...(place === undefined ? {} : { region: place.region }),
      owner: options.owner,
      cluster,
    });
  };
  for (const network of [...source.clientNetworks].sort(compare)) add(network, "config", commonPlace(places), false);
  const nodePlaces = universe.nodePlaces.get(cluster);
  const nodeNames = [...source.nodeNetworks.keys()].sort(compare);
  for (const kind of ["node", "pod"] as const) {
    for (const node of nodeNames) {
      const info = source.nodeNetworks.get(node)!;
      const place = nodePlaces?.get(node) ?? commonPlace(places);
      for (const raw of kind === "node" ? info.addresses : info.podCIDRs) add(raw, kind, place, kind === "node");
    }
  }
  const records = new Map<string, ShortValue>();
  for (const value of [...networks.values()].sort((a, b) => compare(a.network, b.network))) {
    records.set(clientKey(options.prefix, options.federation, cluster, value.network), value);
  }
  return records;
}

/** Narrowest prefixes a node's pod CIDR may have to be published (a node's range is /24 or /64 in practice). */
export const MIN_POD_PREFIX = { v4: 16, v6: 48 } as const;

function tooWide(network: string): boolean {
  const length = Number(network.slice(network.lastIndexOf("/") + 1));
  return network.includes(":") ? length < MIN_POD_PREFIX.v6 : length < MIN_POD_PREFIX.v4;
}

/** What a healthy, federated shard publishes (its ClusterIPs and named ports), or undefined. */
function shardValue(shard: ServiceShard, state: ClusterState, options: ShortOptions): ClusterServiceValue | undefined {
  if (!isSelected(shard, options.namespaces)) return undefined;
  if (!isHealthy(shard, shardAddresses(shard, state.resolvedHostnames).addresses)) return undefined;
  const addresses = [...new Set((shard.clusterIPs ?? []).map(canonicalNetwork))]
    .filter((network): network is string => network !== undefined && /\/(32|128)$/.test(network))
    .map((network) => network.slice(0, network.lastIndexOf("/")))
    .sort(compare);
  if (addresses.length === 0) return undefined;
  const ports = shard.ports
    .filter((port) => port.name !== undefined && port.name.length > 0)
    .map((port) => ({
      name: port.name!.toLowerCase(),
      protocol: (port.protocol.length === 0 ? "tcp" : port.protocol).toLowerCase(),
      port: port.port,
    }));
  return { addresses, ports, owner: options.owner, cluster: state.name };
}

/** The one place all of a cluster's places share (a zone, else a region), for askers not tied to a node. */
function commonPlace(places: readonly Place[]): Place | undefined {
  if (places.length === 0) return undefined;
  const region = places[0]!.region;
  if (places.some((place) => place.region !== region)) return undefined;
  const zone = places[0]!.zone;
  if (zone !== undefined && places.every((place) => place.zone === zone)) return { region, zone };
  return { region };
}

/** Who is asking. */
export interface Asker {
  cluster: string;
  zone?: string;
  region?: string;
}

export interface AskerMatch {
  asker: Asker | undefined;
  /** RFC 7871 scope prefix length of the match. */
  scope: number;
}

/** A cluster's shard of a service as the DNS server needs it. */
export interface LocalShard {
  addresses: readonly string[];
  ports: readonly ShortPort[];
}

/** Everything the DNS server knows for short names, built from the published keys. */
/** One cluster's claim on a client network; the best claim of a network is what the trie holds. */
interface Claim {
  key: string;
  rank: number;
  cluster: string;
  asker: Asker;
}

export class ShortData {
  private readonly trie: PrefixTrie<Asker>;
  /** `namespace/name` -> cluster -> its shard. */
  private readonly services = new Map<string, Map<string, LocalShard>>();
  /** Canonical network -> the claims on it (config before node before pod, then cluster name). */
  private readonly claims = new Map<string, Claim[]>();
  /** Client key -> the network it claims. */
  private readonly networkOfKey = new Map<string, string>();
  private refusedCount = 0;

  private readonly base: string;

  constructor(entries: Iterable<[string, ShortValue]>, base: string, maxNetworks = 1_000_000) {
    this.trie = new PrefixTrie(maxNetworks);
    this.base = base;
    for (const [key, value] of entries) this.put(key, value);
  }

  /**
   * The value at a key of the prefix changed (undefined: deleted, or did not decode): the client network or
   * the service shard it names is set or cleared in place. Keys outside the layout are ignored. The one place
   * that maps keys to what they hold, for a full load and for watch events alike.
   */
  put(key: string, value: ShortValue | undefined): void {
    const parsed = parseShortKey(this.base, key);
    if (parsed === undefined) return;
    if (parsed.kind === "client") {
      this.setNetwork(key, parsed.cluster, value !== undefined && isClientNetwork(value) ? value : undefined);
      return;
    }
    const shard = value !== undefined && !isClientNetwork(value) ? value : undefined;
    this.setShard(
      parsed.cluster,
      parsed.namespace,
      parsed.name,
      shard === undefined ? undefined : { addresses: shard.addresses, ports: shard.ports },
    );
  }

  /** Networks refused (trie full, or invalid): counted for metrics. */
  get refused(): number {
    return this.refusedCount;
  }

  /**
   * A client key changed (undefined: deleted or not a network): applied in place, the network's best claim
   * (config before node addresses before pod CIDRs, then cluster name) re-decided. O(prefix length).
   */
  setNetwork(key: string, cluster: string, value: ClientNetworkValue | undefined): void {
    const before = this.networkOfKey.get(key);
    if (before !== undefined) {
      const remaining = (this.claims.get(before) ?? []).filter((claim) => claim.key !== key);
      if (remaining.length === 0) this.claims.delete(before);
      else this.claims.set(before, remaining);
      this.networkOfKey.delete(key);
    }
    if (value !== undefined) {
      const asker: Asker = {
        cluster,
        ...(value.zone === undefined ? {} : { zone: value.zone }),
        ...(value.region === undefined ? {} : { region: value.region }),
      };
      const claim: Claim = { key, rank: NETWORK_SOURCES.indexOf(value.source), cluster, asker };
      const list = [...(this.claims.get(value.network) ?? []), claim].sort(
        (a, b) => a.rank - b.rank || compare(a.cluster, b.cluster) || compare(a.key, b.key),
      );
      this.claims.set(value.network, list);
      this.networkOfKey.set(key, value.network);
    }
    for (const network of new Set([before, value?.network])) {
      if (network !== undefined) this.decide(network);
    }
  }

  private decide(network: string): void {
    const bytes: NetworkBytes | undefined = networkBytes(network);
    if (bytes === undefined) {
      this.refusedCount++;
      return;
    }
    const best = this.claims.get(network)?.[0];
    if (best === undefined) {
      this.trie.remove(bytes);
      return;
    }
    const result = this.trie.replace(bytes, best.asker);
    if (result === "full" || result === "invalid") this.refusedCount++;
  }

  get networks(): number {
    return this.trie.size;
  }

  /** The asker of an address (4 or 16 bytes), looking at `sourcePrefix` leading bits at most. */
  askerOf(address: Uint8Array, sourcePrefix?: number): AskerMatch {
    const match = this.trie.match(address, sourcePrefix);
    return { asker: match.value, scope: match.scope };
  }

  /** A cluster's shard of `namespace/name` changed (undefined: gone or no longer healthy): applied in place. */
  setShard(cluster: string, namespace: string, name: string, shard: LocalShard | undefined): void {
    const service = `${namespace}/${name}`;
    let byCluster = this.services.get(service);
    if (shard === undefined) {
      byCluster?.delete(cluster);
      if (byCluster?.size === 0) this.services.delete(service);
      return;
    }
    if (byCluster === undefined) {
      byCluster = new Map();
      this.services.set(service, byCluster);
    }
    byCluster.set(cluster, shard);
  }

  /** The cluster's shard of `namespace/name`, when it is healthy. */
  shardOf(cluster: string, namespace: string, name: string): LocalShard | undefined {
    return this.services.get(`${namespace}/${name}`)?.get(cluster);
  }
}

export type ShortChoice =
  /** The asker's own cluster has a healthy shard: its ClusterIPs. */
  | { kind: "local"; shard: LocalShard }
  /** A CNAME to the nearest federation name of the asker (`unknown`: the asker was not recognised). */
  | { kind: "alias"; target: string; level: "zone" | "region" | "global"; unknown: boolean }
  /** No healthy shard anywhere (the global name does not exist): NXDOMAIN. */
  | { kind: "none" };

/** A named port of the question (`_port._proto`), or undefined for the plain name. */
export interface PortQuestion {
  name: string;
  protocol: string;
}

/**
 * The answer for a short name. `exists` says whether a federation name exists (in the records); for an SRV
 * question the names checked are the SRV names below each level.
 */
export function chooseShortAnswer(
  asker: Asker | undefined,
  names: ServiceNames,
  port: PortQuestion | undefined,
  shard: LocalShard | undefined,
  exists: (name: string) => boolean,
): ShortChoice {
  const at = (level: string) => (port === undefined ? level : srvName(level, port.protocol, port.name));
  if (!exists(names.global)) return { kind: "none" };
  if (asker === undefined) return { kind: "alias", target: at(names.global), level: "global", unknown: true };
  const localPort =
    port === undefined || shard?.ports.some((p) => p.name === port.name && p.protocol === port.protocol) === true;
  if (shard !== undefined && shard.addresses.length > 0 && localPort) return { kind: "local", shard };
  if (asker.zone !== undefined && asker.region !== undefined) {
    const zone = names.zone(asker.zone, asker.region);
    if (exists(zone)) return { kind: "alias", target: at(zone), level: "zone", unknown: false };
  }
  if (asker.region !== undefined) {
    const region = names.region(asker.region);
    if (exists(region)) return { kind: "alias", target: at(region), level: "region", unknown: false };
  }
  return { kind: "alias", target: at(names.global), level: "global", unknown: false };
}
