// What a readable member cluster tells about the federation: nodes without zone/region labels,
// clusters with no location, LoadBalancer Services without addresses or without ready endpoints.

import { hasReadyEndpoint, isHealthy, isSelected, requiresEndpoints, shardAddresses } from "../../federation/health.ts";
import { hostnameProblem } from "../../federation/hostnames.ts";
import type { ClusterState, ServiceShard } from "../../federation/state.ts";
import { type Finding, listed, ok, warn } from "./findings.ts";

const LABEL_FIX =
  "label the nodes topology.kubernetes.io/zone and topology.kubernetes.io/region (cloud providers do this), or set zone/region for this cluster under clusters: in the config";

/** Zone/region findings of one cluster. */
export function locationFindings(cluster: ClusterState): Finding[] {
  const subject = `cluster ${cluster.name}`;
  const configured = cluster.configLocation.region !== undefined;
  const unlabeled: string[] = [];
  const zoneOnly: string[] = [];
  let labeled = 0;
  for (const [name, location] of [...cluster.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (location.zone !== undefined && location.region !== undefined) labeled++;
    else if (location.zone !== undefined) zoneOnly.push(name);
    else unlabeled.push(name);
  }
  const findings: Finding[] = [];
  // A cluster whose nodes carry no labels at all and whose config gives the location is set up as intended.
  const usesConfig = configured && labeled === 0 && zoneOnly.length === 0;
  if (unlabeled.length > 0 && !usesConfig) {
    findings.push(
      warn(
        subject,
        "nodes-without-location",
        `${unlabeled.length} node${unlabeled.length === 1 ? "" : "s"} without zone/region labels: ${listed(unlabeled)}`,
        LABEL_FIX,
        { nodes: unlabeled },
      ),
    );
  }
  if (zoneOnly.length > 0) {
    findings.push(
      warn(
        subject,
        "nodes-zone-without-region",
        `${zoneOnly.length} node${zoneOnly.length === 1 ? "" : "s"} with a zone but no region label: ${listed(zoneOnly)}; their zone is ignored`,
        "add the topology.kubernetes.io/region label",
        { nodes: zoneOnly },
      ),
    );
  }
  if (labeled === 0 && !configured) {
    findings.push(
      warn(
        subject,
        "cluster-without-location",
        "no node carries zone/region labels and the config sets no zone/region: its services count for the global name only",
        LABEL_FIX,
      ),
    );
  }
  return findings;
}

/** LoadBalancer Services (as the controller selects them) that cannot contribute addresses here. */
export function loadBalancerFindings(cluster: ClusterState, namespaces: readonly string[]): Finding[] {
  const subject = `cluster ${cluster.name}`;
  const findings: Finding[] = [];
  for (const key of [...cluster.services.keys()].sort()) {
    const shard = cluster.services.get(key)!;
    if (!isSelected(shard, namespaces)) continue;
    const { addresses } = shardAddresses(shard, cluster.resolvedHostnames);
    if (addresses.length === 0) {
      findings.push(noAddressFinding(subject, key, shard));
    } else if (requiresEndpoints(shard) && !hasReadyEndpoint(shard)) {
      const none = shard.endpoints.length === 0;
      findings.push(
        warn(
          subject,
          "lb-without-ready-endpoints",
          `service ${key} has ${none ? "no endpoints" : `no ready endpoint (${shard.endpoints.length} not ready)`}, so this cluster does not serve it`,
          `check its pods (kubectl -n ${shard.namespace} get endpointslices -l kubernetes.io/service-name=${shard.name}); for a Service without selector, annotate it fedns.io/require-endpoints=false`,
          { service: key },
        ),
      );
    }
  }
  return findings;
}

function noAddressFinding(subject: string, key: string, shard: ServiceShard): Finding {
  const all = shard.ingress.flatMap((ingress) =>
    ingress.ip === undefined && ingress.hostname !== undefined ? [ingress.hostname] : [],
  );
  // Hostnames the trust rules refuse are reported with the other refusals (hostname-refused).
  const hostnames = all.filter((hostname) => hostnameProblem(hostname) === undefined);
  if (hostnames.length === 0 && all.length > 0) {
    return warn(
      subject,
      "lb-hostname-refused",
      `service ${key}: its load balancer hostname ${listed(all)} is never resolved: ${hostnameProblem(all[0]!)}`,
      "a load balancer hostname must be a fully qualified DNS name outside the special-use names (docs/trust.md)",
      { service: key, hostnames: all },
    );
  }
  if (hostnames.length > 0) {
    return warn(
      subject,
      "lb-hostname-unresolved",
      `service ${key}: its load balancer hostname ${listed(hostnames)} does not resolve to an address`,
      "check the hostname with dig from where the controller runs; the cloud load balancer may still be provisioning",
      { service: key, hostnames },
    );
  }
  return warn(
    subject,
    "lb-without-address",
    `service ${key} (LoadBalancer) has no load balancer address yet, so this cluster does not serve it`,
    `check the cloud load balancer controller (kubectl -n ${shard.namespace} describe service ${shard.name})`,
    { service: key },
  );
}

/** Federated services that have no healthy shard anywhere: they have no names at all (NXDOMAIN). */
export function federationFindings(clusters: readonly ClusterState[], namespaces: readonly string[]): Finding[] {
  const healthy = new Map<string, boolean>();
  for (const cluster of clusters) {
    for (const [key, shard] of cluster.services) {
      if (!isSelected(shard, namespaces)) continue;
      const good = isHealthy(shard, shardAddresses(shard, cluster.resolvedHostnames).addresses);
      healthy.set(key, (healthy.get(key) ?? false) || good);
    }
  }
  const findings: Finding[] = [];
  for (const key of [...healthy.keys()].sort()) {
    if (healthy.get(key) === true) continue;
    findings.push(
      warn(
        `service ${key}`,
        "service-unhealthy-everywhere",
        "no cluster has a healthy shard (an address and a ready endpoint), so it has no DNS names (NXDOMAIN)",
        "see the cluster findings above for why each shard does not count",
        { service: key },
      ),
    );
  }
  return findings;
}

export function clusterSummary(cluster: ClusterState, namespaces: readonly string[]): Finding {
  let federated = 0;
  let healthy = 0;
  for (const shard of cluster.services.values()) {
    if (!isSelected(shard, namespaces)) continue;
    federated++;
    if (isHealthy(shard, shardAddresses(shard, cluster.resolvedHostnames).addresses)) healthy++;
  }
  return ok(
    `cluster ${cluster.name}`,
    "cluster-ok",
    `list/watch on services, endpointslices and nodes work; ${count(cluster.nodes.size, "node")}, ${count(federated, "federated LoadBalancer service")} (${healthy} healthy here)`,
  );
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
