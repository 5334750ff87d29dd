// The member clusters a config names, chosen exactly as `fedns controller` chooses them
// (src/config/members.ts); what stops the controller becomes a finding here.
import { ConfigError } from "../../config/load.ts";
import { type MemberCluster, memberClusters } from "../../config/members.ts";
import type { FednsConfig } from "../../config/schema.ts";
import { error, type Finding } from "./findings.ts";

export interface MembersResult {
  members: MemberCluster[];
  findings: Finding[];
}

export function memberClustersOfConfig(config: FednsConfig, contexts: readonly string[] = []): MembersResult {
  let members: MemberCluster[];
  try {
    members = memberClusters(config, [...contexts]);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return {
      members: [],
      findings: [
        error(
          "config",
          "kubeconfig-invalid",
          err.message,
          "fix kubeconfig:/--context (deploy/member-cluster/make-kubeconfig.sh writes one context per member)",
        ),
      ],
    };
  }
  if (members.length > 0) return { members, findings: [] };
  return {
    members,
    findings: [
      error(
        "config",
        "no-clusters",
        "no member clusters configured",
        "set kubeconfig: (every context becomes a member) or clusters: in the config, or pass --kubeconfig",
      ),
    ],
  };
}
