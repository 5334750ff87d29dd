// The one cluster reader: a member cluster's reduced objects (kube-objects.ts) indexed and assembled into
// the ClusterState plan() reads. The controller keeps a ClusterObjects current from its reflectors' lists
// and events (cluster-watch.ts); `fedns check` builds one from a single listing (buildClusterState()).
// Either way a shard is assembled by the same code: the Service with the endpoints of all its slices, in
// slice-name order.

import type { NodeNetworks } from "../federation/short-names.ts";
import type { ClusterState, ClusterStatus, EndpointInfo, Location, ServiceShard } from "../federation/state.ts";
import type { NodeInfo, ServiceInfo, SliceInfo } from "./kube-objects.ts";

/** One complete listing of a cluster, reduced, keyed `namespace/name` (nodes: `name`). */
export interface ListedObjects {
  services: ReadonlyMap<string, ServiceInfo>;
  endpointSlices: ReadonlyMap<string, SliceInfo>;
  nodes: ReadonlyMap<string, NodeInfo>;
}

/** What the config and the controller add to a cluster's objects to make its ClusterState. */
export interface ClusterContext {
  name: string;
  status: ClusterStatus;
  configLocation: Location;
  /** LB hostname -> addresses (shared by all clusters; filled by the hostname resolver). */
  resolvedHostnames: Map<string, string[]>;
  /** Since when its API server has been failing (plan() applies the grace period). */
  unreachableSince?: number;
}

/** A cluster's shards and node locations, kept current one object at a time. */
export class ClusterObjects {
  /** `namespace/name` -> the shard (service with the endpoints of all its slices). */
  readonly shards = new Map<string, ServiceShard>();
  /** Node name -> its zone/region labels. */
  readonly nodes = new Map<string, Location>();
  /** Node name -> its addresses and pod CIDRs (short names: who is asking). */
  readonly nodeNetworks = new Map<string, NodeNetworks>();
  private readonly services = new Map<string, ServiceInfo>();
  private readonly slices = new Map<string, SliceInfo>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private ingressTotal = 0;
  private nodeChanges = 0;
  private shardChanges = 0;

  /** Load-balancer entries over all shards (plan()'s per-cluster record budget: state.ts recordCost). */
  get recordCost(): number {
    return this.ingressTotal;
  }

  /** Changes with every change of the node locations (plan contexts built from them are then out of date). */
  get nodesVersion(): number {
    return this.nodeChanges;
  }

  /** Changes with every shard added, replaced or removed. */
  get shardsVersion(): number {
    return this.shardChanges;
  }

  /** How many Services the EndpointSlice index holds an entry for (tests: the index must not leak). */
  get slicedServiceCount(): number {
    return this.slicesByService.size;
  }

  /** The objects held of one resource, keyed as its reflector keys them (the caps count these). */
  held(resource: "services" | "endpointslices" | "nodes"): ReadonlyMap<string, unknown> {
    if (resource === "services") return this.services;
    return resource === "endpointslices" ? this.slices : this.nodes;
  }

  /** A complete list of Services: these and no others exist. */
  replaceServices(items: ReadonlyMap<string, ServiceInfo>): void {
    this.services.clear();
    for (const [key, info] of items) this.services.set(key, info);
    for (const key of [...this.shards.keys()]) if (!items.has(key)) this.rebuildShard(key);
    for (const key of this.services.keys()) this.rebuildShard(key);
  }

  /** One Service added, changed (info) or deleted (undefined); returns the shard keys affected. */
  setService(key: string, info: ServiceInfo | undefined): string[] {
    if (info === undefined) this.services.delete(key);
    else this.services.set(key, info);
    this.rebuildShard(key);
    return [key];
  }

  /** A complete list of EndpointSlices. */
  replaceSlices(items: ReadonlyMap<string, SliceInfo>): void {
    this.slices.clear();
    this.slicesByService.clear();
    for (const [key, slice] of items) this.indexSlice(key, slice);
    for (const key of this.services.keys()) this.rebuildShard(key);
  }

  /** One EndpointSlice added, changed or deleted; returns the shard keys affected (its Service, before and after). */
  setSlice(key: string, slice: SliceInfo | undefined): string[] {
    const before = this.slices.get(key);
    if (before?.service !== undefined) {
      const keys = this.slicesByService.get(before.service);
      keys?.delete(key);
      // Services usually go before their slices: an empty entry would stay forever.
      if (keys?.size === 0) this.slicesByService.delete(before.service);
    }
    this.slices.delete(key);
    if (slice !== undefined) this.indexSlice(key, slice);
    const affected = new Set<string>();
    if (before?.service !== undefined) affected.add(before.service);
    if (slice?.service !== undefined) affected.add(slice.service);
    for (const service of affected) this.rebuildShard(service);
    return [...affected];
  }

  /** A complete list of Nodes. */
  replaceNodes(items: ReadonlyMap<string, NodeInfo>): void {
    this.nodes.clear();
    this.nodeNetworks.clear();
    for (const node of items.values()) {
      this.nodes.set(node.name, node.location);
      this.nodeNetworks.set(node.name, node.networks);
    }
    this.nodeChanges += 1;
  }

  /**
   * One Node added, changed or deleted; true when its location changed (every shard may be affected),
   * "node-networks" when only its addresses or pod CIDRs did (short names only).
   */
  setNode(key: string, node: NodeInfo | undefined): boolean | "node-networks" {
    let changed: boolean;
    if (node === undefined) {
      this.nodeNetworks.delete(key);
      changed = this.nodes.delete(key);
    } else {
      const before = this.nodes.get(node.name);
      const networksBefore = this.nodeNetworks.get(node.name);
      this.nodes.set(node.name, node.location);
      this.nodeNetworks.set(node.name, node.networks);
      changed = before?.zone !== node.location.zone || before?.region !== node.location.region;
      if (!changed && !sameNetworks(networksBefore, node.networks)) return "node-networks";
    }
    if (changed) this.nodeChanges += 1;
    return changed;
  }

  /**
   * The cluster as plan() sees it. `only` restricts the services to those keys (incremental plans); nodes
   * come complete, and `allServices` carries every shard so per-cluster limits count them all.
   */
  state(context: ClusterContext, only?: Iterable<string>): ClusterState {
    let services = this.shards;
    if (only !== undefined) {
      services = new Map();
      for (const key of only) {
        const shard = this.shards.get(key);
        if (shard !== undefined) services.set(key, shard);
      }
    }
    return {
      ...context,
      nodes: this.nodes,
      services,
      recordCost: this.ingressTotal,
      ...(services === this.shards ? {} : { allServices: this.shards }),
    };
  }

  private indexSlice(key: string, slice: SliceInfo): void {
    this.slices.set(key, slice);
    if (slice.service === undefined) return;
    let keys = this.slicesByService.get(slice.service);
    if (keys === undefined) {
      keys = new Set();
      this.slicesByService.set(slice.service, keys);
    }
    keys.add(key);
  }

  /**
   * The shard of a service from its Service and slices. A shard equal to the one it replaces is kept as it was:
   * its identity tells the reconciler's memo (controller.ts signature) that nothing changed, e.g. after a relist.
   */
  private rebuildShard(service: string): void {
    const before = this.shards.get(service);
    const info = this.services.get(service);
    if (info === undefined) {
      if (before === undefined) return;
      this.ingressTotal -= before.ingress.length;
      this.shards.delete(service);
      this.shardChanges += 1;
      return;
    }
    const endpoints: EndpointInfo[] = [];
    const sliceKeys = this.slicesByService.get(service);
    if (sliceKeys !== undefined) {
      for (const sliceKey of sliceKeys.size > 1 ? [...sliceKeys].sort() : sliceKeys) {
        endpoints.push(...(this.slices.get(sliceKey)?.endpoints ?? []));
      }
    }
    const shard: ServiceShard = { ...info, endpoints };
    if (before !== undefined && sameShard(before, shard)) return;
    this.ingressTotal += shard.ingress.length - (before?.ingress.length ?? 0);
    this.shards.set(service, shard);
    this.shardChanges += 1;
  }
}

/** Whether two shards say the same (their reduced fields are plain data: compared as JSON). */
export function sameShard(a: ServiceShard, b: ServiceShard): boolean {
  if (a.ingress.length !== b.ingress.length || a.endpoints.length !== b.endpoints.length) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A cluster's state from one complete listing (pure: `fedns check`, and tests of the controller's view). */
export function buildClusterState(listed: ListedObjects, context: ClusterContext): ClusterState {
  const objects = new ClusterObjects();
  objects.replaceServices(listed.services);
  objects.replaceSlices(listed.endpointSlices);
  objects.replaceNodes(listed.nodes);
  return objects.state(context);
}

function sameNetworks(a: NodeNetworks | undefined, b: NodeNetworks): boolean {
  return (
    a !== undefined && a.addresses.join(",") === b.addresses.join(",") && a.podCIDRs.join(",") === b.podCIDRs.join(",")
  );
}
