// The config's trust and limits as plan() takes them: one place, read by the controller and `fedns check`.
import { type Network, parseNetwork } from "../federation/addresses.ts";
import type { ClusterPolicy, FederationPolicy } from "../federation/trust.ts";
import type { FednsConfig } from "./schema.ts";

export function federationPolicy(config: Pick<FednsConfig, "clusters" | "controller">): FederationPolicy {
  const clusters = new Map<string, ClusterPolicy>();
  for (const cluster of config.clusters) {
    const trust = cluster.trust;
    if (trust === undefined) continue;
    const policy: ClusterPolicy = {
      ...(trust.namespaces === undefined ? {} : { namespaces: trust.namespaces }),
      ...(trust.zones === undefined ? {} : { zones: trust.zones }),
      ...(trust.regions === undefined ? {} : { regions: trust.regions }),
      ...(trust.ttl === undefined ? {} : { ttl: trust.ttl }),
      ...(trust.allowedNetworks === undefined
        ? {}
        : {
            // The schema has validated each network, so every one parses.
            allowedNetworks: trust.allowedNetworks
              .map((text) => parseNetwork(text))
              .filter((network): network is Network => network !== undefined),
          }),
    };
    clusters.set(cluster.name, policy);
  }
  return { clusters, limits: config.controller.limits };
}
