// The config as plan() takes it (the record settings, the grace period, trust and limits): one place, read by
// the controller (`fedns controller`) and `fedns check`, so both plan the same way.
import { type Network, parseNetwork } from "../federation/addresses.ts";
import type { PlanOptions } from "../federation/state.ts";
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

/** The plan settings of a config, other than the names (federation, domain, prefix, owner). */
export type PlanSettings = Required<Pick<PlanOptions, "ttl" | "srv" | "namespaces" | "policy" | "graceMs">>;

export function planSettings(config: Pick<FednsConfig, "clusters" | "controller">): PlanSettings {
  const c = config.controller;
  return {
    ttl: c.ttl,
    srv: c.srv,
    namespaces: c.namespaces,
    policy: federationPolicy(config),
    graceMs: c.gracePeriodSeconds * 1000,
  };
}
