// The member clusters of a federation: what one is (MemberCluster), and which ones a config names: every
// context of `kubeconfig` (or the --context ones), plus the explicit `clusters` list (which wins for a name
// that appears in both). Read by the controller (start and reload) and by `fedns check`.
import { KubeConfig } from "@kubernetes/client-node";
import type { Location } from "../federation/state.ts";
import { isValidLabel } from "../records/name.ts";
import { ConfigError } from "./load.ts";
import { clusterNameTooLong, type FednsConfig, MAX_CLUSTER_NAME_LENGTH } from "./schema.ts";

export interface MemberCluster {
  /** The cluster's name in records (key leaves, `cluster` field). */
  name: string;
  /** kubeconfig file; default loading rules when absent. */
  kubeconfig?: string;
  /** Context in the kubeconfig; its current context when absent. */
  context?: string;
  /** Location for clusters whose nodes carry no topology labels. */
  zone?: string;
  region?: string;
  /** A ready KubeConfig (tests, `fedns dev`); wins over kubeconfig/context. */
  kubeConfig?: KubeConfig;
  /** Networks its pods ask from (short names), besides its nodes' addresses and pod CIDRs. */
  clientNetworks?: string[];
}

/** The zone/region the config gives a cluster (used where its nodes carry no labels). */
export function configLocation(member: MemberCluster): Location {
  return {
    ...(member.zone === undefined ? {} : { zone: member.zone }),
    ...(member.region === undefined ? {} : { region: member.region }),
  };
}

/** Both entries read the same API server with the same credentials (a reload need not restart the watch). */
export function sameSource(a: MemberCluster, b: MemberCluster): boolean {
  return a.kubeconfig === b.kubeconfig && a.context === b.context && a.kubeConfig === b.kubeConfig;
}

export function memberClusters(config: FednsConfig, onlyContexts: string[] = []): MemberCluster[] {
  const members = new Map<string, MemberCluster>();
  if (config.kubeconfig !== undefined) {
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromFile(config.kubeconfig);
    } catch (err) {
      throw new ConfigError(`kubeconfig: cannot load ${config.kubeconfig}: ${(err as Error).message}`);
    }
    const contexts = kubeConfig.getContexts().map((context) => context.name);
    for (const wanted of onlyContexts) {
      if (!contexts.includes(wanted)) {
        throw new ConfigError(
          `--context ${wanted}: no such context in ${config.kubeconfig} (has: ${contexts.join(", ")})`,
        );
      }
    }
    // Every context chosen becomes a member named after it, so each must be a usable cluster name.
    const instead = `pick other contexts with --context, or list the cluster under clusters: with a name, kubeconfig and context`;
    for (const context of onlyContexts.length > 0 ? onlyContexts : contexts) {
      if (!isValidLabel(context) || context.includes("_")) {
        throw new ConfigError(`kubeconfig: context "${context}" is not a valid cluster name (a DNS label); ${instead}`);
      }
      if (context.length > MAX_CLUSTER_NAME_LENGTH) {
        throw new ConfigError(
          `kubeconfig: context "${context}" cannot be a cluster name: it ${clusterNameTooLong(context)}; ${instead}`,
        );
      }
      members.set(context, { name: context, kubeconfig: config.kubeconfig, context });
    }
  }
  for (const cluster of config.clusters) {
    // An entry that names no source (only zone/region/trust for a kubeconfig context) keeps the context's.
    const source =
      cluster.kubeconfig === undefined && cluster.context === undefined ? members.get(cluster.name) : undefined;
    members.set(cluster.name, {
      ...source,
      name: cluster.name,
      ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
      ...(cluster.context !== undefined ? { context: cluster.context } : {}),
      ...(cluster.zone !== undefined ? { zone: cluster.zone } : {}),
      ...(cluster.region !== undefined ? { region: cluster.region } : {}),
      ...(cluster.clientNetworks !== undefined ? { clientNetworks: cluster.clientNetworks } : {}),
    });
  }
  return [...members.values()].sort((a, b) => a.name.localeCompare(b.name));
}
