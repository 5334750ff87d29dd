// The member clusters a config names, as the controller watches them: every context of `kubeconfig:`
// (named after the context) plus the explicit `clusters:` entries, which win over a context of the same name.
import { KubeConfig } from "@kubernetes/client-node";
import type { FednsConfig } from "../../config/schema.ts";
import type { MemberCluster } from "../../controller/controller.ts";
import { describeError, error, type Finding } from "./findings.ts";

export interface MembersResult {
  members: MemberCluster[];
  findings: Finding[];
}

export interface MembersOptions {
  /** Only these contexts of the kubeconfig (`--context`); all when absent or empty. */
  contexts?: readonly string[];
}

export function memberClustersFromConfig(config: FednsConfig, options: MembersOptions = {}): MembersResult {
  const findings: Finding[] = [];
  const byName = new Map<string, MemberCluster>();
  const wanted = options.contexts !== undefined && options.contexts.length > 0 ? options.contexts : undefined;
  if (config.kubeconfig !== undefined) {
    const path = config.kubeconfig;
    try {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(path);
      const contexts = kubeConfig.getContexts().map((context) => context.name);
      for (const name of wanted ?? contexts) {
        if (!contexts.includes(name)) {
          findings.push(
            error(
              "config",
              "kubeconfig-context-missing",
              `kubeconfig ${path} has no context "${name}"`,
              `use one of: ${contexts.join(", ") || "(none)"}`,
            ),
          );
          continue;
        }
        byName.set(name, { name, kubeconfig: path, context: name });
      }
      if (contexts.length === 0) {
        findings.push(
          error(
            "config",
            "kubeconfig-empty",
            `kubeconfig ${path} has no contexts`,
            "add one context per member cluster (deploy/member-cluster/make-kubeconfig.sh writes them)",
          ),
        );
      }
    } catch (err) {
      findings.push(
        error(
          "config",
          "kubeconfig-unreadable",
          `cannot load kubeconfig ${path}: ${describeError(err)}`,
          "fix the kubeconfig: path, or the file (deploy/member-cluster/make-kubeconfig.sh writes one per member)",
        ),
      );
    }
  }
  for (const cluster of config.clusters) {
    byName.set(cluster.name, {
      name: cluster.name,
      ...(cluster.kubeconfig === undefined ? {} : { kubeconfig: cluster.kubeconfig }),
      ...(cluster.context === undefined ? {} : { context: cluster.context }),
      ...(cluster.zone === undefined ? {} : { zone: cluster.zone }),
      ...(cluster.region === undefined ? {} : { region: cluster.region }),
    });
  }
  if (byName.size === 0 && findings.length === 0) {
    findings.push(
      error(
        "config",
        "no-clusters",
        "no member clusters configured",
        "set kubeconfig: (every context becomes a member) or clusters: in the config, or pass --kubeconfig",
      ),
    );
  }
  return { members: [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), findings };
}
