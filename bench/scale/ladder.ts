// The data set of bench/scale (issue 8) and the table it prints; pure, unit-tested.
// A step of N clusters holds 100·N distinct LoadBalancer services, each in 10 of the N clusters (every cluster
// 1,000 services): at N = 100 that is 10,000 services × 10 clusters. Clusters sit in 5 regions × 3 zones.
import { parseScenario, type Scenario } from "../../src/sim/index.ts";

export const SERVICES_PER_CLUSTER = 1000;
export const CLUSTERS_PER_SERVICE = 10;
export const REGIONS = 5;
export const ZONES_PER_REGION = 3;
export const NAMESPACES = 20;

export interface Location {
  region: string;
  zone: string;
}

export function locationOf(cluster: number): Location {
  const zone = cluster % (REGIONS * ZONES_PER_REGION);
  const region = Math.floor(zone / ZONES_PER_REGION);
  return {
    region: `region-${region}`,
    zone: `region-${region}-${String.fromCharCode(97 + (zone % ZONES_PER_REGION))}`,
  };
}

export function servicesOf(clusters: number): number {
  return (clusters * SERVICES_PER_CLUSTER) / Math.min(CLUSTERS_PER_SERVICE, clusters);
}

/** The clusters service `s` runs in: 10 clusters spread evenly over the N (all N when N ≤ 10). */
export function clustersOfService(service: number, clusters: number): number[] {
  const spread = Math.min(CLUSTERS_PER_SERVICE, clusters);
  const stride = clusters / spread;
  return Array.from({ length: spread }, (_, j) => (service + j * stride) % clusters);
}

/** The services cluster `c` runs, inverse of clustersOfService: exactly SERVICES_PER_CLUSTER of them. */
export function servicesOfCluster(cluster: number, clusters: number): number[] {
  const found: number[] = [];
  for (let s = 0; s < servicesOf(clusters); s++) if (clustersOfService(s, clusters).includes(cluster)) found.push(s);
  return found;
}

export function serviceName(service: number): string {
  return `svc-${service}`;
}

export function namespaceOf(service: number): string {
  return `ns-${service % NAMESPACES}`;
}

/** The LB address of a service in a cluster; `generation` > 0 for the addresses the propagation changes set. */
export function lbAddress(cluster: number, service: number, generation = 0): string {
  return `10.${cluster + 100 * (generation % 2)}.${(service >> 8) & 255}.${service & 255}`;
}

/** The name every healthy shard of a service answers at. */
export function globalName(service: number, federation: string, domain: string): string {
  return `${serviceName(service)}.${namespaceOf(service)}.${federation}.svc.${domain}`;
}

export function scenarioFor(clusters: number): Scenario {
  return parseScenario({
    clusters: Array.from({ length: clusters }, (_, c) => {
      const location = locationOf(c);
      const node = `node-${c}`;
      return {
        name: `cluster-${c}`,
        nodes: [{ name: node, zone: location.zone, region: location.region }],
        services: servicesOfCluster(c, clusters).map((s) => ({
          name: serviceName(s),
          namespace: namespaceOf(s),
          ports: [{ name: "http", port: 80 }],
          ingress: [{ ip: lbAddress(c, s) }],
          endpoints: [{ address: `172.${16 + (c % 16)}.${(s >> 8) & 255}.${s & 255}`, node }],
        })),
      };
    }),
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface StepResult {
  clusters: number;
  services: number;
  keys: number;
  dbBytes: number;
  revision: number;
  /** Until etcd first held `keys` keys (all of them: what a restarted controller settles on); undefined: never. */
  firstWriteOutMs: number | undefined;
  /** Keys in etcd when the first write-out went quiet. */
  firstWriteOutKeys: number;
  controllerRss: number | undefined;
  controllerPeakRss: number | undefined;
  /** undefined: did not settle within the bound (then `settleBoundMs` says which). */
  restartSettleMs: number | undefined;
  settleBoundMs: number;
  restartWrites: number | undefined;
  leadershipChanges: number;
  sigtermExitMs: number | undefined;
  /** SIGKILL of the leader until the standby leads; undefined: not within `takeoverBoundMs`. */
  takeoverMs: number | undefined;
  /** SIGKILL of the leader until the new leader settled (nothing written for 5 s). */
  takeoverSettleMs: number | undefined;
  takeoverWrites: number;
  takeoverBoundMs: number;
  /** A cluster taken down (after the takeover) until etcd holds none of its keys. */
  withdrawnMs: number | undefined;
  withdrawnKeys: number;
  withdrawnLeft: number;
  graceMs: number;
  /** Spawn to every sampled name answered. */
  serveColdStartMs: number | undefined;
  /** The first load as the server logs it: paged range read and indexing. */
  serveLoadMs: number | undefined;
  serveRss: number | undefined;
  servePeakRss: number | undefined;
  propagation: number[];
  /** Largest event-loop lag any scrape of the controllers reported, and the metric it came from. */
  lagMaxMs: number | undefined;
  lagMetric: string | undefined;
  simRss: number;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function seconds(ms: number | undefined): string {
  return ms === undefined ? "n/a" : `${(ms / 1000).toFixed(1)} s`;
}

function memory(bytes: number | undefined): string {
  if (bytes === undefined) return "n/a";
  return bytes >= GIB ? `${(bytes / GIB).toFixed(2)} GiB` : `${(bytes / MIB).toFixed(0)} MiB`;
}

function thousands(n: number): string {
  return n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
}

function restart(step: StepResult): string {
  const writes = step.restartWrites === undefined ? "" : `, writes ${step.restartWrites}`;
  if (step.restartSettleMs === undefined) {
    return `not settled in ${seconds(step.settleBoundMs)} (${step.leadershipChanges} leadership changes${writes})`;
  }
  return `settles in ${seconds(step.restartSettleMs)}${step.restartWrites === 0 ? ", writes nothing" : writes}`;
}

/**
 * When the first write-out was complete: the first sample ([ms, keys]) at which etcd held all `total` keys;
 * undefined when it never did.
 */
export function writeOutOf(samples: readonly (readonly [number, number])[], total: number): number | undefined {
  return samples.find(([, keys]) => keys >= total)?.[0];
}

function writeOut(step: StepResult): string {
  if (step.firstWriteOutMs !== undefined) return `${seconds(step.firstWriteOutMs)} (${thousands(step.keys)} keys)`;
  return `incomplete: ${thousands(step.firstWriteOutKeys)} of ${thousands(step.keys)} keys when quiet`;
}

/** The issue's table, one row per step, plus propagation and event-loop lag. */
export function formatTable(steps: readonly StepResult[]): string {
  const header = [
    "clusters × services",
    "etcd keys",
    "etcd db",
    "controller first write-out",
    "controller RSS (peak)",
    "restart of the controller",
    "SIGTERM → exit",
    "`fedns serve` cold start (of it: load)",
    "serve RSS (peak)",
    "propagation p50 / p99",
    "controller event-loop lag max",
  ];
  const rows = steps.map((step) => {
    const sorted = [...step.propagation].sort((a, b) => a - b);
    const propagation =
      sorted.length === 0
        ? "n/a"
        : `${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 99).toFixed(0)} ms (n=${sorted.length})`;
    return [
      `${step.clusters} × ${SERVICES_PER_CLUSTER.toLocaleString("en")}`,
      thousands(step.keys),
      memory(step.dbBytes),
      writeOut(step),
      `${memory(step.controllerRss)} (${memory(step.controllerPeakRss)})`,
      restart(step),
      seconds(step.sigtermExitMs),
      `${seconds(step.serveColdStartMs)} (load ${seconds(step.serveLoadMs)})`,
      `${memory(step.serveRss)} (${memory(step.servePeakRss)})`,
      propagation,
      step.lagMaxMs === undefined ? "n/a" : `${step.lagMaxMs.toFixed(0)} ms`,
    ];
  });
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Standby takeover and withdrawal of a cluster taken down afterwards, one row per step. */
export function formatFailoverTable(steps: readonly StepResult[]): string {
  const header = [
    "clusters × services",
    "standby takeover (leader SIGKILLed → standby leads)",
    "takeover settled (writes)",
    "cluster down → all its keys withdrawn",
  ];
  const rows = steps.map((step) => [
    `${step.clusters} × ${SERVICES_PER_CLUSTER.toLocaleString("en")}`,
    step.takeoverMs === undefined ? `not within ${seconds(step.takeoverBoundMs)}` : seconds(step.takeoverMs),
    step.takeoverSettleMs === undefined
      ? "n/a"
      : `${seconds(step.takeoverSettleMs)}${step.takeoverWrites === 0 ? ", writes nothing" : `, writes ${step.takeoverWrites}`}`,
    step.withdrawnMs === undefined
      ? `not withdrawn: ${step.withdrawnLeft} of ${step.withdrawnKeys} keys left`
      : `${seconds(step.withdrawnMs)} for ${step.withdrawnKeys.toLocaleString("en")} keys (grace ${seconds(step.graceMs)})`,
  ]);
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
