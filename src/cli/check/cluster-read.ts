// One member cluster as `fedns check` sees it: can fedns's credentials list/watch what the controller
// needs, and what the cluster holds, reduced to the federation state plan() reads.
import type { KubeConfig } from "@kubernetes/client-node";
import { configLocation, type MemberCluster } from "../../config/members.ts";
import { clusterClients, loadKubeConfig } from "../../controller/kube-client.ts";
import {
  keyOf,
  metaOf,
  reduceEndpointSlice,
  reduceNode,
  reduceService,
  type ServiceInfo,
  type SliceInfo,
} from "../../controller/kube-objects.ts";
import type { ResourceClient } from "../../controller/reflector.ts";
import type { ClusterState, EndpointInfo, Location, ServiceShard } from "../../federation/state.ts";
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

async function listAll(client: ResourceClient, timeoutMs: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let continueToken: string | undefined;
  do {
    const page = await client.list({
      ...(continueToken === undefined ? {} : { continueToken }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    items.push(...page.items);
    continueToken = page.continueToken;
  } while (continueToken !== undefined);
  return items;
}

function reduceAll<T>(raws: unknown[], reduce: (raw: unknown) => T | undefined, invalid: string[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const raw of raws) {
    const meta = metaOf(raw);
    const item = reduce(raw);
    if (meta === undefined || item === undefined) {
      invalid.push(meta === undefined ? "(no name)" : keyOf(meta));
      continue;
    }
    out.set(keyOf(meta), item);
  }
  return out;
}

async function listCluster(
  member: MemberCluster,
  kubeConfig: KubeConfig,
  options: ReadClusterOptions,
): Promise<{ cluster: ClusterState; findings: Finding[] }> {
  const clients = clusterClients(kubeConfig, { serviceLabelSelector: options.serviceLabelSelector });
  const [serviceItems, sliceItems, nodeItems] = await Promise.all([
    listAll(clients.services, options.timeoutMs),
    listAll(clients.endpointSlices, options.timeoutMs),
    listAll(clients.nodes, options.timeoutMs),
  ]);
  const invalid: string[] = [];
  const services = reduceAll<ServiceInfo>(serviceItems, reduceService, invalid);
  const slices = reduceAll<SliceInfo>(sliceItems, reduceEndpointSlice, invalid);
  const nodes = new Map<string, Location>();
  for (const node of reduceAll(nodeItems, reduceNode, invalid).values()) nodes.set(node.name, node.location);

  const endpointsByService = new Map<string, EndpointInfo[]>();
  for (const sliceKey of [...slices.keys()].sort()) {
    const slice = slices.get(sliceKey)!;
    if (slice.service === undefined) continue;
    endpointsByService.set(slice.service, [...(endpointsByService.get(slice.service) ?? []), ...slice.endpoints]);
  }
  const shards = new Map<string, ServiceShard>();
  for (const [key, info] of services) shards.set(key, { ...info, endpoints: endpointsByService.get(key) ?? [] });

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
  return {
    cluster: {
      name: member.name,
      status: "active",
      configLocation: configLocation(member),
      nodes,
      services: shards,
      resolvedHostnames: options.resolvedHostnames,
    },
    findings,
  };
}
