// One member cluster as `fedns check` sees it: can fedns's credentials list/watch what the controller
// needs, and what the cluster holds, read as the controller reads it (reflector.ts listAll, one
// ClusterState from cluster-state.ts buildClusterState).
import type { KubeConfig } from "@kubernetes/client-node";
import { configLocation, type MemberCluster } from "../../config/members.ts";
import { CapExceeded, type ReflectorCaps } from "../../controller/caps.ts";
import { buildClusterState } from "../../controller/cluster-state.ts";
import { clusterClients, loadKubeConfig } from "../../controller/kube-client.ts";
import { keyOf, metaOf, reduceEndpointSlice, reduceNode, reduceService } from "../../controller/kube-objects.ts";
import { listAll, type ResourceClient } from "../../controller/reflector.ts";
import type { ClusterState } from "../../federation/state.ts";
import { realTimers } from "../../obs/clock.ts";
import { type AccessFailure, checkAccess, RESOURCES, type Resource } from "./cluster-access.ts";
import { describeError, error, type Finding, listed, warn } from "./findings.ts";

export interface ClusterRead {
  name: string;
  /** API server URL from the kubeconfig, when it could be loaded. */
  server: string | undefined;
  /** The cluster's state with status "active"; undefined when it could not be read completely. */
  state: ClusterState | undefined;
  findings: Finding[];
}

export interface ReadClusterOptions {
  timeoutMs: number;
  /** config.controller.labelSelector: the Services the controller sees. */
  serviceLabelSelector: string;
  /** Shared by every cluster of one check: filled later with resolved LB hostnames. */
  resolvedHostnames: Map<string, string[]>;
  /** config.controller.clusterCaps: a cluster past them is degraded in the controller too. */
  caps?: ReflectorCaps;
}

const RBAC_FIX = "kubectl --context <member> apply -k deploy/member-cluster";
const GROUPS: Record<Resource, string> = {
  services: "core services",
  endpointslices: "discovery.k8s.io endpointslices",
  nodes: "core nodes",
};

export async function readCluster(member: MemberCluster, options: ReadClusterOptions): Promise<ClusterRead> {
  const subject = `cluster ${member.name}`;
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = member.kubeConfig ?? loadKubeConfig(member);
  } catch (err) {
    return {
      name: member.name,
      server: undefined,
      state: undefined,
      findings: [
        error(
          subject,
          "cluster-kubeconfig",
          `cannot load its kubeconfig: ${describeError(err)}`,
          "fix kubeconfig/context of this cluster in the config",
        ),
      ],
    };
  }
  const server = kubeConfig.getCurrentCluster()?.server;
  const failures = (
    await Promise.all(RESOURCES.map((resource) => checkAccess(kubeConfig, resource, options.timeoutMs)))
  ).filter((failure) => failure !== undefined);
  if (failures.length > 0) {
    return { name: member.name, server, state: undefined, findings: accessFindings(subject, server, failures) };
  }
  try {
    const state = await listCluster(member, kubeConfig, options);
    return { name: member.name, server, state: state.cluster, findings: state.findings };
  } catch (err) {
    if (err instanceof CapExceeded) {
      const degraded = error(
        subject,
        "cluster-degraded",
        `the cluster is past controller.clusterCaps: ${err.message}`,
        "the controller marks it degraded and drops what it sends: find what grew in it, or raise controller.clusterCaps (docs/trust.md)",
      );
      return { name: member.name, server, state: undefined, findings: [degraded] };
    }
    return {
      name: member.name,
      server,
      state: undefined,
      findings: [
        error(
          subject,
          "cluster-list-failed",
          `listing the cluster failed: ${describeError(err)}`,
          "run fedns check again; if it persists, look at the API server's health",
        ),
      ],
    };
  }
}

function accessFindings(subject: string, server: string | undefined, failures: AccessFailure[]): Finding[] {
  const at = server === undefined ? "" : ` at ${server}`;
  if (failures.every((failure) => failure.status === undefined)) {
    return [
      error(
        subject,
        "cluster-unreachable",
        `cannot reach the API server${at}: ${failures[0]!.message}`,
        "check the server address in the kubeconfig, the network path from here, and that the cluster is up",
        { failures },
      ),
    ];
  }
  if (failures.some((failure) => failure.status === 401)) {
    return [
      error(
        subject,
        "cluster-unauthorized",
        `the API server${at} rejects the credentials (401 Unauthorized)`,
        "the token or client certificate in the kubeconfig is wrong or expired: regenerate it with deploy/member-cluster/make-kubeconfig.sh",
        { failures },
      ),
    ];
  }
  return failures.map((failure) => {
    if (failure.status === 403) {
      return error(
        subject,
        "cluster-forbidden",
        `cannot ${failure.verb} ${failure.resource} (403 Forbidden)`,
        `grant list/watch on ${GROUPS[failure.resource]} (${RBAC_FIX})`,
        { failure },
      );
    }
    return error(
      subject,
      "cluster-api-error",
      `cannot ${failure.verb} ${failure.resource} (${failure.status ?? "no answer"}): ${failure.message}`,
      "look at the API server's health and logs; run fedns check again",
      { failure },
    );
  });
}

async function listCluster(
  member: MemberCluster,
  kubeConfig: KubeConfig,
  options: ReadClusterOptions,
): Promise<{ cluster: ClusterState; findings: Finding[] }> {
  const clients = clusterClients(kubeConfig, { serviceLabelSelector: options.serviceLabelSelector });
  const invalid: string[] = [];
  const list = <T>(resource: string, client: ResourceClient, reduce: (raw: unknown) => T | undefined) =>
    listAll(client, {
      resource,
      reduce,
      timeoutMs: options.timeoutMs,
      timers: realTimers,
      ...(options.caps === undefined ? {} : { caps: options.caps }),
      onInvalid: (raw) => {
        const meta = metaOf(raw);
        invalid.push(meta === undefined ? "(no name)" : keyOf(meta));
      },
    }).then((listed) => listed.items);
  const [services, endpointSlices, nodes] = await Promise.all([
    list("services", clients.services, reduceService),
    list("endpointslices", clients.endpointSlices, reduceEndpointSlice),
    list("nodes", clients.nodes, reduceNode),
  ]);
  const findings: Finding[] = [];
  if (invalid.length > 0) {
    findings.push(
      warn(
        `cluster ${member.name}`,
        "cluster-invalid-objects",
        `${invalid.length} objects could not be read: ${listed(invalid)}`,
        "the controller skips them too; look at them with kubectl get -o yaml",
      ),
    );
  }
  const cluster = buildClusterState(
    { services, endpointSlices, nodes },
    {
      name: member.name,
      status: "active",
      configLocation: configLocation(member),
      resolvedHostnames: options.resolvedHostnames,
    },
  );
  return { cluster, findings };
}
