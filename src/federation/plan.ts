// plan(): the federation state -> the desired skydns records of every federated service (SPEC §1–3).
// Pure: no I/O, no clock, no randomness; every iteration is sorted so equal states give equal plans.
import { nameProblem } from "../records/name.ts";
import type { SkydnsService } from "../records/service.ts";
import { DEFAULT_GRACE_MS, heldUnits, isStale, nextGraceEnd } from "./grace.ts";
import { compare, isHealthy, isSelected, type ShardAddress, shardAddresses, ttlOf } from "./health.ts";
import { admittedShards, firstN, limitKind } from "./limits.ts";
import { buildLocationUniverse, type LocationUniverse, type Place, shardPlaces, type Warn } from "./location.ts";
import {
  addressLeaf,
  CNAME_LEAF,
  keyOf,
  labelProblem,
  type ServiceNames,
  serviceNames,
  srvLeaf,
  srvName,
} from "./names.ts";
import type {
  ClusterState,
  FederationState,
  Plan,
  PlanOptions,
  PlanWarning,
  ServicePort,
  ServiceShard,
} from "./state.ts";
import { Trust } from "./trust.ts";

export type { Plan, PlanWarning } from "./state.ts";

/** A shard that passed selection and health, with what the record rules need. */
interface Contributor {
  cluster: string;
  shard: ServiceShard;
  addresses: ShardAddress[];
  ports: ServicePort[];
}

interface LocatedContributor extends Contributor {
  places: Place[];
}

/** One name of a service: global, region or zone; `fallback` is the next level up. */
interface Level {
  name: string;
  contributors: LocatedContributor[];
  fallback: Level | undefined;
}

/** Collects warnings once each; sorted at the end so their order does not depend on input order. */
class Warnings {
  private readonly byKey = new Map<string, PlanWarning>();

  readonly add: Warn = (warning) => {
    const key = [warning.kind, warning.cluster ?? "", warning.service ?? "", warning.message].join("\u0000");
    if (!this.byKey.has(key)) this.byKey.set(key, warning);
  };

  sorted(): PlanWarning[] {
    return [...this.byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, warning]) => warning);
  }
}

export function plan(state: FederationState, options: PlanOptions): Plan {
  return planServices(state, options, planContext(state, options));
}

/**
 * What plan() computes from the whole federation before it looks at any service: the trust rules, the location
 * universe (every cluster's nodes and config), which clusters can form key leaves and which shards each
 * cluster's record budget admits. A caller that plans a few services at a time computes it once and reuses it
 * for as long as those inputs (not the shards themselves, except for their load-balancer counts) are unchanged.
 */
export interface PlanContext {
  readonly trust: Trust;
  readonly universe: LocationUniverse;
  /** Clusters whose name can form a key leaf. */
  readonly usable: ReadonlySet<string>;
  /** Cluster -> the shard keys its record budget admits; absent or undefined: all of them. */
  readonly admitted: ReadonlyMap<string, ReadonlySet<string> | undefined>;
  readonly warnings: readonly PlanWarning[];
}

export function planContext(state: FederationState, options: PlanOptions): PlanContext {
  const warnings = new Warnings();
  const clusters = [...state.clusters.values()].sort((a, b) => compare(a.name, b.name));
  const trust = new Trust(options.policy);
  const universe = buildLocationUniverse(clusters, warnings.add, trust);
  const usable = new Set<string>();
  const admitted = new Map<string, ReadonlySet<string> | undefined>();
  for (const cluster of clusters) {
    const problem = labelProblem(addressLeaf(cluster.name, ""));
    if (problem === undefined) {
      usable.add(cluster.name);
    } else {
      warnings.add({
        kind: "invalid-label",
        cluster: cluster.name,
        message: `cluster name cannot form a key leaf (${problem}); its shards are skipped`,
      });
    }
    // The sum of all its load-balancer entries bounds its cost: within the budget, every shard is admitted.
    const fits = cluster.recordCost !== undefined && cluster.recordCost <= trust.limits.recordsPerCluster;
    admitted.set(cluster.name, fits ? undefined : admittedShards(shardCosts(cluster), trust.limits));
  }
  return { trust, universe, usable, admitted, warnings: warnings.sorted() };
}

/** The records of the services in `state` (all, or those `services` maps hold), with a context of the same state. */
export function planServices(state: FederationState, options: PlanOptions, context: PlanContext): Plan {
  const warnings = new Warnings();
  for (const warning of context.warnings) warnings.add(warning);
  const { trust, universe } = context;
  const clusters = [...state.clusters.values()].sort((a, b) => compare(a.name, b.name));
  const shardsByService = new Map<string, { cluster: ClusterState; shard: ServiceShard }[]>();
  for (const cluster of clusters) {
    const admitted = context.admitted.get(cluster.name);
    const usable = context.usable.has(cluster.name);
    for (const shard of cluster.services.values()) {
      const key = `${shard.namespace}/${shard.name}`;
      let list = shardsByService.get(key);
      if (list === undefined) {
        list = [];
        shardsByService.set(key, list);
      }
      if (admitted !== undefined && !admitted.has(key)) {
        warnings.add({
          kind: limitKind("recordsPerCluster"),
          cluster: cluster.name,
          service: key,
          message: `the cluster's load-balancer addresses are past the limit of ${trust.limits.recordsPerCluster} (records per cluster); this service is not federated from it`,
        });
        continue;
      }
      if (usable) list.push({ cluster, shard });
    }
  }

  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const stale = new Set(clusters.filter((cluster) => isStale(cluster, state.now, graceMs)).map((c) => c.name));
  const services = new Map<string, Map<string, SkydnsService>>();
  for (const key of [...shardsByService.keys()].sort(compare)) {
    const records = planService(key, shardsByService.get(key)!, stale, universe, options, trust, warnings.add);
    services.set(key, sortByKey(records));
  }
  const held = heldUnits(state, services, graceMs);
  for (const unit of held.keys()) services.delete(unit);
  const recheckAt = nextGraceEnd(state, graceMs);
  return { services, held, ...(recheckAt === undefined ? {} : { recheckAt }), warnings: warnings.sorted() };
}

function planService(
  service: string,
  shards: readonly { cluster: ClusterState; shard: ServiceShard }[],
  stale: ReadonlySet<string>,
  universe: LocationUniverse,
  options: PlanOptions,
  trust: Trust,
  warn: Warn,
): Map<string, SkydnsService> {
  const records = new Map<string, SkydnsService>();
  const active: { cluster: ClusterState; contributor: Contributor }[] = [];
  const withdrawn: { cluster: ClusterState; contributor: Contributor }[] = [];
  for (const { cluster, shard } of shards) {
    if (!isSelected(shard, options.namespaces)) continue;
    const namespaceProblem = trust.namespaceProblem(cluster.name, shard.namespace);
    if (namespaceProblem !== undefined) {
      warn({ kind: "namespace-refused", cluster: cluster.name, service, message: namespaceProblem });
      continue;
    }
    const { addresses: said, invalid, refusedHostnames } = shardAddresses(shard, cluster.resolvedHostnames);
    for (const { hostname, problem } of refusedHostnames) {
      warn({
        kind: "hostname-refused",
        cluster: cluster.name,
        service,
        message: `load balancer hostname ${JSON.stringify(hostname.slice(0, 256))}: ${problem}; not resolved`,
      });
    }
    const addresses = trustedAddresses(cluster.name, service, said, trust, warn);
    for (const bad of invalid) {
      warn({
        kind: "invalid-address",
        cluster: cluster.name,
        service,
        message: `load balancer address ${JSON.stringify(bad)} is not an IP address; skipped`,
      });
    }
    if (!isHealthy(shard, addresses)) continue;
    const contributor: Contributor = { cluster: cluster.name, shard, addresses, ports: shard.ports };
    (stale.has(cluster.name) ? withdrawn : active).push({ cluster, contributor });
  }
  // Stale clusters are withdrawn, except where they hold the last addresses of the service (grace.ts for the
  // same rule on clusters not synced).
  const chosen = active.length > 0 ? active : withdrawn;
  if (chosen.length === 0) return records;

  const first = chosen[0]!.contributor.shard;
  for (const [what, label] of [
    ["service name", first.name],
    ["namespace", first.namespace],
  ] as const) {
    const problem = labelProblem(label);
    if (problem !== undefined) {
      warn({ kind: "invalid-label", service, message: `${what}: ${problem}; service not published` });
      return records;
    }
  }
  const names = serviceNames(options.federation, options.domain, first.namespace, first.name);
  const globalProblem = nameProblem(names.global);
  if (globalProblem !== undefined) {
    warn({ kind: "invalid-name", service, message: `${names.global}: ${globalProblem}; service not published` });
    return records;
  }

  limitPorts(chosen, service, trust, warn);
  let ttl: number | undefined;
  const located: LocatedContributor[] = [];
  for (const { cluster, contributor } of chosen) {
    const result = clusterTtl(contributor.shard, cluster.name, options, trust, warn);
    // One TTL per service: RRsets must not mix TTLs (RFC 2181 §5.2), so the shortest wins.
    ttl = ttl === undefined ? result.ttl : Math.min(ttl, result.ttl);
    const places = shardPlaces(contributor.shard, cluster, universe, warn);
    if (places.length === 0) {
      warn({
        kind: "no-location",
        cluster: cluster.name,
        service,
        message: "no zone/region on endpoints, nodes or cluster config; the shard counts for the global name only",
      });
    }
    located.push({ ...contributor, places });
  }

  const levels = levelsOf(names, located, universe, service, warn);
  const context: RecordContext = { options, ttl: ttl ?? options.ttl.default, service, warn, records };
  for (const level of levels) {
    // A level is written whole or not at all; past the limit the remaining (deeper) levels are dropped.
    const levelRecords = new Map<string, SkydnsService>();
    writeLevel(level, { ...context, records: levelRecords });
    if (records.size + levelRecords.size > trust.limits.recordsPerService) {
      warn({
        kind: limitKind("recordsPerService"),
        service,
        message: `past the limit of ${trust.limits.recordsPerService} records per service at ${level.name}; it and the names after it are not published`,
      });
      break;
    }
    for (const [key, value] of levelRecords) records.set(key, value);
  }
  return records;
}

/** The shard's TTL: its annotation within the federation's bounds, then within the cluster's trust.ttl. */
function clusterTtl(
  shard: ServiceShard,
  cluster: string,
  options: PlanOptions,
  trust: Trust,
  warn: Warn,
): { ttl: number } {
  const result = ttlOf(shard, options.ttl);
  if ("problem" in result)
    warn({ kind: "bad-ttl", cluster, service: `${shard.namespace}/${shard.name}`, message: result.problem });
  const bounds = trust.ttlBounds(cluster, options.ttl);
  if (result.ttl >= bounds.min && result.ttl <= bounds.max) return { ttl: result.ttl };
  const ttl = Math.min(bounds.max, Math.max(bounds.min, result.ttl));
  warn({
    kind: "ttl-refused",
    cluster,
    service: `${shard.namespace}/${shard.name}`,
    message: `TTL ${result.ttl} is outside this cluster's trust.ttl [${bounds.min}, ${bounds.max}]; ${ttl} used`,
  });
  return { ttl };
}

/** A cluster's cost against its records limit, per shard key: its load-balancer entries. */
function shardCosts(cluster: ClusterState): Map<string, number> {
  const costs = new Map<string, number>();
  for (const [key, shard] of cluster.allServices ?? cluster.services) costs.set(key, shard.ingress.length);
  return costs;
}

/** The addresses the cluster may publish (trust.ts, addresses.ts), at most `addressesPerShard` of them. */
function trustedAddresses(
  cluster: string,
  service: string,
  addresses: readonly ShardAddress[],
  trust: Trust,
  warn: Warn,
): ShardAddress[] {
  const allowed: ShardAddress[] = [];
  for (const entry of addresses) {
    const problem = trust.addressProblem(cluster, entry.address);
    if (problem === undefined) allowed.push(entry);
    else warn({ kind: "address-refused", cluster, service, message: `address ${entry.address}: ${problem}; skipped` });
  }
  const { kept, dropped } = firstN(allowed, trust.limits.addressesPerShard);
  if (dropped > 0) {
    warn({
      kind: limitKind("addressesPerShard"),
      cluster,
      service,
      message: `${allowed.length} addresses, past the limit of ${trust.limits.addressesPerShard} per shard; the last ${dropped} in address order dropped`,
    });
  }
  return kept;
}

/** At most `portsPerService` distinct (protocol, name, port) over the chosen shards; the rest dropped. */
function limitPorts(
  chosen: readonly { cluster: ClusterState; contributor: Contributor }[],
  service: string,
  trust: Trust,
  warn: Warn,
): void {
  const portKey = (port: ServicePort): string =>
    `${(port.protocol.length === 0 ? "TCP" : port.protocol).toLowerCase()}/${port.name?.toLowerCase() ?? ""}/${port.port}`;
  const distinct = new Set<string>();
  for (const { contributor } of chosen) for (const port of contributor.ports) distinct.add(portKey(port));
  if (distinct.size <= trust.limits.portsPerService) return;
  const { kept } = firstN([...distinct].sort(compare), trust.limits.portsPerService);
  const keep = new Set(kept);
  for (const { cluster, contributor } of chosen) {
    const ports = contributor.ports.filter((port) => keep.has(portKey(port)));
    if (ports.length === contributor.ports.length) continue;
    contributor.ports = ports;
    warn({
      kind: limitKind("portsPerService"),
      cluster: cluster.name,
      service,
      message: `the service has ${distinct.size} distinct ports, past the limit of ${trust.limits.portsPerService}; ${ports.length} of this cluster's kept`,
    });
  }
}

/** Global, then each region with its zones: every (zone, region) known in the federation. */
function levelsOf(
  names: ServiceNames,
  contributors: LocatedContributor[],
  universe: LocationUniverse,
  service: string,
  warn: Warn,
): Level[] {
  const regions = new Map<string, Set<string>>();
  for (const [region, zones] of universe.regions) regions.set(region, new Set(zones));
  for (const contributor of contributors) {
    for (const place of contributor.places) {
      if (!regions.has(place.region)) regions.set(place.region, new Set());
      if (place.zone !== undefined) regions.get(place.region)!.add(place.zone);
    }
  }
  const global: Level = { name: names.global, contributors, fallback: undefined };
  const levels = [global];
  const writable = (name: string): boolean => {
    const problem = nameProblem(name);
    if (problem !== undefined) warn({ kind: "invalid-name", service, message: `${name}: ${problem}; skipped` });
    return problem === undefined;
  };
  for (const region of [...regions.keys()].sort(compare)) {
    const regionName = names.region(region);
    // A zone name is longer than its region's: when the region cannot be written, neither can its zones.
    if (!writable(regionName)) continue;
    const regionLevel: Level = {
      name: regionName,
      contributors: contributors.filter((c) => c.places.some((place) => place.region === region)),
      fallback: global,
    };
    levels.push(regionLevel);
    for (const zone of [...regions.get(region)!].sort(compare)) {
      const zoneName = names.zone(zone, region);
      if (!writable(zoneName)) continue;
      levels.push({
        name: zoneName,
        contributors: contributors.filter((c) => c.places.some((p) => p.region === region && p.zone === zone)),
        fallback: regionLevel,
      });
    }
  }
  return levels;
}

interface RecordContext {
  options: PlanOptions;
  ttl: number;
  service: string;
  warn: Warn;
  records: Map<string, SkydnsService>;
}

function writeLevel(level: Level, context: RecordContext): void {
  const { options, ttl, records } = context;
  if (level.contributors.length > 0) {
    for (const contributor of level.contributors) {
      for (const { address } of contributor.addresses) {
        records.set(keyOf(options.prefix, level.name, addressLeaf(contributor.cluster, address)), {
          host: address,
          ttl,
          group: level.name,
          owner: options.owner,
          cluster: contributor.cluster,
        });
      }
    }
  } else if (level.fallback !== undefined) {
    records.set(keyOf(options.prefix, level.name, CNAME_LEAF), {
      host: level.fallback.name,
      ttl,
      group: level.name,
      owner: options.owner,
    });
  }
  writeSrv(level, context);
}

interface NamedPort {
  protocol: string;
  name: string;
}

/** The named ports of the contributors, each (protocol, name) once, with a usable label. */
function namedPorts(level: Level, context: RecordContext): NamedPort[] {
  let top = level;
  while (top.fallback !== undefined) top = top.fallback;
  const found = new Map<string, NamedPort>();
  for (const contributor of top.contributors) {
    for (const port of contributor.ports) {
      if (port.name === undefined || port.name.length === 0) continue;
      const protocol = (port.protocol.length === 0 ? "TCP" : port.protocol).toLowerCase();
      const name = port.name.toLowerCase();
      const problems = [labelProblem(`_${name}`), labelProblem(`_${protocol}`)].filter((p) => p !== undefined);
      if (problems.length > 0) {
        context.warn({
          kind: "invalid-label",
          cluster: contributor.cluster,
          service: context.service,
          message: `port ${JSON.stringify(port.name)}/${port.protocol}: ${problems.join(", ")}; no SRV record`,
        });
        continue;
      }
      found.set(`${protocol}/${name}`, { protocol, name });
    }
  }
  return [...found.entries()].sort(([a], [b]) => compare(a, b)).map(([, port]) => port);
}

function portsOf(contributors: readonly Contributor[], wanted: NamedPort): number[] {
  const ports = new Set<number>();
  for (const contributor of contributors) {
    for (const port of contributor.ports) {
      const protocol = (port.protocol.length === 0 ? "TCP" : port.protocol).toLowerCase();
      if (port.name?.toLowerCase() === wanted.name && protocol === wanted.protocol) ports.add(port.port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * SRV records of a level: for each named port, one record per distinct port number, targeting the
 * nearest level (this one, its region, the global name) that holds addresses of shards exposing
 * that port, so a target is never a CNAME (RFC 2782) and never lacks the port.
 */
function writeSrv(level: Level, context: RecordContext): void {
  const { options, ttl, records } = context;
  for (const named of namedPorts(level, context)) {
    let target: Level | undefined = level;
    let ports: number[] = [];
    while (target !== undefined) {
      ports = portsOf(target.contributors, named);
      if (ports.length > 0) break;
      target = target.fallback;
    }
    if (target === undefined) continue;
    const name = srvName(level.name, named.protocol, named.name);
    const problem = nameProblem(name);
    if (problem !== undefined) {
      context.warn({ kind: "invalid-name", service: context.service, message: `${name}: ${problem}; skipped` });
      continue;
    }
    for (const port of ports) {
      records.set(keyOf(options.prefix, name, srvLeaf(port)), {
        host: target.name,
        port,
        priority: options.srv.priority,
        weight: options.srv.weight,
        ttl,
        group: name,
        owner: options.owner,
      });
    }
  }
}

function sortByKey(records: Map<string, SkydnsService>): Map<string, SkydnsService> {
  return new Map([...records.entries()].sort(([a], [b]) => compare(a, b)));
}
