// The data set of bench/index (issue 8): the records the controller writes for the bench/scale ladder
// (N clusters × 1,000 LoadBalancer services, each service in 10 of the N clusters, 5 regions × 3 zones,
// one named port), computed by plan() itself, as sorted `key\tvalue` lines in one Buffer so that the
// bench holds its input off the JavaScript heap and every page read decodes fresh strings, as an etcd client does.
import { parseNetwork } from "../../src/federation/addresses.ts";
import { DEFAULT_LIMITS } from "../../src/federation/limits.ts";
import { plan } from "../../src/federation/plan.ts";
import type { ClusterState, FederationState, PlanOptions } from "../../src/federation/state.ts";
import { encodeService } from "../../src/records/service.ts";
import { clustersOfService, lbAddress, locationOf, namespaceOf, serviceName, servicesOf } from "../scale/ladder.ts";

export const PREFIX = "/skydns";
export const DOMAIN = "example.com";

const OPTIONS: PlanOptions = {
  federation: "myfed",
  domain: DOMAIN,
  prefix: PREFIX,
  owner: "fedns/myfed",
  ttl: { default: 30, min: 5, max: 3600 },
  srv: { priority: 10, weight: 100 },
  namespaces: [],
};

/** The ladder's LB addresses are in 10.0.0.0/8: every cluster is allowed it (as bench/scale's config does). */
function optionsFor(clusters: number): PlanOptions {
  const allowedNetworks = [parseNetwork("10.0.0.0/8")!];
  const policies = Array.from({ length: clusters }, (_, c) => [`cluster-${c}`, { allowedNetworks }] as const);
  return { ...OPTIONS, policy: { clusters: new Map(policies), limits: DEFAULT_LIMITS } };
}

/** The federation state of a ladder step of `clusters` clusters, as the controller would hold it. */
export function federationOf(clusters: number): FederationState {
  const states: ClusterState[] = Array.from({ length: clusters }, (_, c) => ({
    name: `cluster-${c}`,
    status: "active",
    configLocation: {},
    nodes: new Map([[`node-${c}`, locationOf(c)]]),
    services: new Map(),
    resolvedHostnames: new Map(),
  }));
  for (let s = 0; s < servicesOf(clusters); s++) {
    for (const c of clustersOfService(s, clusters)) {
      states[c]!.services.set(`${namespaceOf(s)}/${serviceName(s)}`, {
        namespace: namespaceOf(s),
        name: serviceName(s),
        type: "LoadBalancer",
        annotations: {},
        ports: [{ name: "http", protocol: "TCP", port: 80 }],
        ingress: [{ ip: lbAddress(c, s) }],
        endpoints: [{ ready: true, nodeName: `node-${c}` }],
      });
    }
  }
  return { clusters: new Map(states.map((state) => [state.name, state])) };
}

export interface Dataset {
  /** `key\tvalue\n` lines in etcd's key order. */
  lines: Buffer;
  keys: number;
  /** Every distinct name a record answers at (the records' `group`). */
  names: string[];
}

/** plan()'s records for a ladder step of `clusters` clusters. */
export function datasetOf(clusters: number): Dataset {
  const planned = plan(federationOf(clusters), optionsFor(clusters));
  const entries: [string, string][] = [];
  const names = new Set<string>();
  for (const records of planned.services.values()) {
    for (const [key, service] of records) {
      entries.push([key, encodeService(service)]);
      if (service.group !== undefined) names.add(service.group);
    }
  }
  // Keys are ASCII: string order is etcd's byte order.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = Buffer.from(entries.map(([key, value]) => `${key}\t${value}\n`).join(""));
  return { lines, keys: entries.length, names: [...names] };
}
