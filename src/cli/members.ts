// Which member clusters a config names: every context of `kubeconfig` (or the --context ones),
// plus the explicit `clusters` list (which wins for a name that appears in both).
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError } from "../config/load.ts";
import { clusterNameTooLong, type FednsConfig, MAX_CLUSTER_NAME_LENGTH } from "../config/schema.ts";
import type { MemberCluster } from "../controller/controller.ts";
import { isValidLabel } from "../records/name.ts";

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
