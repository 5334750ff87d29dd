// Where things are (SPEC §1–2): the (zone, region) universe of the federation, and the places of a shard.
import { compare } from "./health.ts";
import { admitFairly, type Limits, limitKind } from "./limits.ts";
import { labelProblem } from "./names.ts";
import type { ClusterState, Location, PlanWarning, ServiceShard } from "./state.ts";
import { Trust } from "./trust.ts";

/** A normalized location: lowercase, valid labels, a zone always with its region. */
export interface Place {
  region: string;
  zone?: string;
}

export type Warn = (warning: PlanWarning) => void;

export interface LocationUniverse {
  /** Region -> its zones: every (zone, region) known anywhere in the federation. */
  regions: Map<string, Set<string>>;
  /** Cluster -> node name -> the node's place (nodes with no usable labels are absent). */
  nodePlaces: Map<string, Map<string, Place>>;
  /** Cluster -> the places of its nodes, else of its config; empty when it has no location at all. */
  clusterPlaces: Map<string, Place[]>;
  /** Cluster -> zone -> regions, from that cluster's nodes and config. */
  clusterZoneRegions: Map<string, Map<string, Set<string>>>;
  /** Zone -> regions, over the whole federation. */
  zoneRegions: Map<string, Set<string>>;
  /** What each cluster may claim (endpoint zones are checked against it too). */
  trust: Trust;
}

function placeKey(place: Place): string {
  return place.zone === undefined ? place.region : `${place.zone}.${place.region}`;
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

/** Lowercased label, or undefined (with a warning) when it cannot be part of a name. */
function usableLabel(value: string | undefined, what: string, cluster: string, warn: Warn): string | undefined {
  if (value === undefined || value.length === 0) return undefined;
  const problem = labelProblem(value);
  if (problem !== undefined) {
    warn({ kind: "invalid-label", cluster, message: `${what}: ${problem}; skipped` });
    return undefined;
  }
  return value.toLowerCase();
}

/** A node's or config's labels as a place; a zone without a region is dropped (zone names need a region). */
function placeOf(location: Location, source: string, cluster: string, warn: Warn): Place | undefined {
  const region = usableLabel(location.region, `${source} region`, cluster, warn);
  const zone = usableLabel(location.zone, `${source} zone`, cluster, warn);
  if (region === undefined) {
    if (zone !== undefined) {
      warn({
        kind: "zone-without-region",
        cluster,
        message: `${source} has zone ${JSON.stringify(zone)} but no region; the zone is skipped`,
      });
    }
    return undefined;
  }
  return zone === undefined ? { region } : { region, zone };
}

function uniquePlaces(places: Iterable<Place>): Place[] {
  const byKey = new Map<string, Place>();
  for (const place of places) byKey.set(placeKey(place), place);
  return [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, place]) => place);
}

/** Everything the location rules need, computed once per plan from every cluster (stale ones included). */
export function buildLocationUniverse(
  clusters: readonly ClusterState[],
  warn: Warn,
  trust: Trust = new Trust(),
): LocationUniverse {
  const universe: LocationUniverse = {
    regions: new Map(),
    nodePlaces: new Map(),
    clusterPlaces: new Map(),
    clusterZoneRegions: new Map(),
    zoneRegions: new Map(),
    trust,
  };
  // What each cluster's nodes and config say, within what it may claim.
  const said = new Map<string, { nodePlaces: Map<string, Place>; configPlace: Place | undefined }>();
  for (const cluster of clusters) {
    const nodePlaces = new Map<string, Place>();
    for (const nodeName of [...cluster.nodes.keys()].sort(compare)) {
      const place = placeOf(cluster.nodes.get(nodeName)!, "node labels", cluster.name, warn);
      const admitted = place === undefined ? undefined : admitPlace(trust, cluster.name, place, warn);
      if (admitted !== undefined) nodePlaces.set(nodeName, admitted);
    }
    said.set(cluster.name, {
      nodePlaces,
      configPlace: placeOf(cluster.configLocation, "cluster config", cluster.name, warn),
    });
  }
  const within = withinLimits(said, trust.limits, warn);

  for (const cluster of clusters) {
    const { nodePlaces: saidPlaces, configPlace: saidConfig } = said.get(cluster.name)!;
    const nodePlaces = new Map<string, Place>();
    for (const [nodeName, place] of saidPlaces) {
      const kept = within(place);
      if (kept !== undefined) nodePlaces.set(nodeName, kept);
    }
    const configPlace = saidConfig === undefined ? undefined : within(saidConfig);
    const ownPlaces = uniquePlaces(nodePlaces.values());
    const clusterPlaces = ownPlaces.length > 0 ? ownPlaces : configPlace === undefined ? [] : [configPlace];
    universe.nodePlaces.set(cluster.name, nodePlaces);
    universe.clusterPlaces.set(cluster.name, clusterPlaces);

    const zoneRegions = new Map<string, Set<string>>();
    const known = configPlace === undefined ? [...nodePlaces.values()] : [...nodePlaces.values(), configPlace];
    for (const place of known) {
      if (!universe.regions.has(place.region)) universe.regions.set(place.region, new Set());
      if (place.zone === undefined) continue;
      universe.regions.get(place.region)!.add(place.zone);
      addTo(zoneRegions, place.zone, place.region);
      addTo(universe.zoneRegions, place.zone, place.region);
    }
    universe.clusterZoneRegions.set(cluster.name, zoneRegions);
  }
  return universe;
}

/** The place as far as the cluster may claim it (trust.ts), warning about what it may not. */
function admitPlace(trust: Trust, cluster: string, place: Place, warn: Warn): Place | undefined {
  const { place: admitted, problem } = trust.admitPlace(cluster, place);
  if (problem !== undefined) warn({ kind: "location-refused", cluster, message: problem });
  return admitted;
}

/**
 * The federation's region and zone limits (limits.ts), shared fairly between the clusters: returns
 * the place as far as it is within them (a zone past the limit leaves its region; a region past the
 * limit leaves nothing), and warns once per cluster that lost some.
 */
function withinLimits(
  said: ReadonlyMap<string, { nodePlaces: Map<string, Place>; configPlace: Place | undefined }>,
  limits: Limits,
  warn: Warn,
): (place: Place) => Place | undefined {
  const regions = new Map<string, Set<string>>();
  const zones = new Map<string, Set<string>>();
  for (const [cluster, { nodePlaces, configPlace }] of said) {
    const places = configPlace === undefined ? [...nodePlaces.values()] : [...nodePlaces.values(), configPlace];
    for (const place of places) {
      addTo(regions, cluster, place.region);
      if (place.zone !== undefined) addTo(zones, cluster, placeKey(place));
    }
  }
  const admittedRegions = admitFairly(regions, limits.regions);
  for (const values of zones.values()) {
    for (const key of values) if (!admittedRegions.has(key.slice(key.indexOf(".") + 1))) values.delete(key);
  }
  const admittedZones = admitFairly(zones, limits.zones);
  for (const [what, proposals, admitted, max] of [
    ["regions", regions, admittedRegions, limits.regions],
    ["zones", zones, admittedZones, limits.zones],
  ] as const) {
    for (const cluster of [...proposals.keys()].sort(compare)) {
      const dropped = [...proposals.get(cluster)!].filter((value) => !admitted.has(value)).sort(compare);
      if (dropped.length === 0) continue;
      warn({
        kind: limitKind(what),
        cluster,
        message: `${dropped.length} of its ${what} are past the federation's limit of ${max} ${what}; dropped (first: ${dropped.slice(0, 3).join(", ")})`,
      });
    }
  }
  return (place) => {
    if (!admittedRegions.has(place.region)) return undefined;
    if (place.zone === undefined || admittedZones.has(placeKey(place))) return place;
    return { region: place.region };
  };
}

/** The region of an EndpointSlice zone: from the cluster's own nodes, else from the federation's, if unambiguous. */
function regionOfZone(zone: string, cluster: string, universe: LocationUniverse): string | undefined {
  for (const regions of [universe.clusterZoneRegions.get(cluster)?.get(zone), universe.zoneRegions.get(zone)]) {
    if (regions !== undefined && regions.size === 1) return [...regions][0];
    if (regions !== undefined && regions.size > 1) return undefined;
  }
  return undefined;
}

/**
 * The places of a shard: those of its ready endpoints (EndpointSlice zone, else the node's labels
 * via nodeName); if endpoints carry none, the cluster's nodes; else the cluster's config; else none
 * (the shard then counts for the global name only).
 */
export function shardPlaces(
  shard: ServiceShard,
  cluster: ClusterState,
  universe: LocationUniverse,
  warn: Warn,
): Place[] {
  const service = `${shard.namespace}/${shard.name}`;
  const nodePlaces = universe.nodePlaces.get(cluster.name);
  const found: Place[] = [];
  for (const endpoint of shard.endpoints) {
    if (endpoint.ready === false) continue;
    let place: Place | undefined;
    const zone = usableLabel(endpoint.zone, `endpoint zone of ${service}`, cluster.name, warn);
    if (zone !== undefined) {
      const region = regionOfZone(zone, cluster.name, universe);
      if (region !== undefined) {
        place = admitPlace(universe.trust, cluster.name, { region, zone }, warn);
      } else {
        warn({
          kind: "zone-without-region",
          cluster: cluster.name,
          service,
          message: `no node maps endpoint zone ${JSON.stringify(zone)} to a single region`,
        });
      }
    }
    if (place === undefined && endpoint.nodeName !== undefined) place = nodePlaces?.get(endpoint.nodeName);
    if (place !== undefined) found.push(place);
  }
  if (found.length > 0) return uniquePlaces(found);
  return universe.clusterPlaces.get(cluster.name) ?? [];
}
