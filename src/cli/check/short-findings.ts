// `fedns check` on short names (SPEC §4a, deploy/coredns/README.md): which zone the DNS servers answer them in,
// and the member clusters whose namespace named like the federation the short zone shadows (its Services live at
// `<svc>.<F>.svc.<cluster domain>`, which the forward stanza sends to fedns). Pure: config and cluster states in.
import type { FednsConfig } from "../../config/schema.ts";
import type { ClusterState } from "../../federation/state.ts";
import { shortZoneName } from "../short-serving.ts";
import { type Finding, listed, ok, warn } from "./findings.ts";

export function shortNameFindings(config: FednsConfig, clusters: readonly ClusterState[]): Finding[] {
  const short = config.shortNames;
  const federation = config.federation;
  if (!short.enabled || federation === undefined || config.domain === undefined) return [];
  const zone = shortZoneName(federation, short.clusterDomain);
  const findings: Finding[] = [
    ok(
      "short names",
      "short-names-zone",
      `fedns serve answers ${zone} (pods ask for <service>.<namespace>.${federation})`,
      {
        zone,
      },
    ),
  ];
  for (const cluster of [...clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const shadowed = [...cluster.services.values()]
      .filter((shard) => shard.namespace === federation)
      .map((shard) => shard.name)
      .sort();
    if (shadowed.length === 0) continue;
    findings.push(
      warn(
        `cluster ${cluster.name}`,
        "short-names-namespace-shadowed",
        `namespace "${federation}" has ${shadowed.length} Service(s) (${listed(shadowed)}): their names ` +
          `<svc>.${federation}.svc.${short.clusterDomain} fall in the short-name zone ${zone}, which the cluster's ` +
          "DNS forwards to fedns, so pods can no longer reach them by name",
        `move them to a namespace not named like the federation, or set shortNames.enabled: false`,
        { cluster: cluster.name, namespace: federation, services: shadowed, zone },
      ),
    );
  }
  return findings;
}
