// The Kubernetes objects a scenario cluster starts with.
import { isIP } from "node:net";
import type { ScenarioCluster, ScenarioService } from "./scenario.ts";
import type { KubeObject } from "./types.ts";

const ALWAYS = ["default", "kube-system", "kube-public"];

export function seedObjects(cluster: ScenarioCluster, clusterIndex: number): KubeObject[] {
  const namespaces = [...new Set([...ALWAYS, ...cluster.namespaces, ...cluster.services.map((s) => s.namespace)])];
  return [
    ...namespaces.map((name): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })),
    ...cluster.nodes.map((node, i): KubeObject => {
      const labels: Record<string, string> = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
      };
      if (node.zone !== undefined) labels["topology.kubernetes.io/zone"] = node.zone;
      if (node.region !== undefined) labels["topology.kubernetes.io/region"] = node.region;
      return {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: node.name, labels: { ...labels, ...node.labels } },
        spec: {},
        status: {
          conditions: [{ type: "Ready", status: node.ready ? "True" : "False", reason: "KubeletReady" }],
          addresses: [
            { type: "InternalIP", address: `10.${(clusterIndex % 200) + 1}.0.${i + 10}` },
            { type: "Hostname", address: node.name },
          ],
          nodeInfo: {
            kubeletVersion: "v1.32.0",
            osImage: "fedns sim",
            architecture: "amd64",
            operatingSystem: "linux",
          },
        },
      };
    }),
    ...cluster.services.flatMap((service) => [serviceObject(service), ...sliceObjects(service)]),
  ];
}

export function serviceObject(service: ScenarioService): KubeObject {
  const spec: Record<string, unknown> = {
    type: service.type,
    ports: service.ports.map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      port: p.port,
      protocol: p.protocol,
      targetPort: p.targetPort ?? p.port,
    })),
  };
  if (service.selector !== undefined) spec.selector = service.selector;
  const families = [
    ...new Set(
      service.ingress.filter((i) => i.ip !== undefined).map((i) => (isIP(i.ip ?? "") === 6 ? "IPv6" : "IPv4")),
    ),
  ];
  if (families.length > 1) {
    spec.ipFamilies = ["IPv4", "IPv6"];
    spec.ipFamilyPolicy = "PreferDualStack";
  }
  const metadata: KubeObject["metadata"] = { name: service.name, namespace: service.namespace };
  if (Object.keys(service.labels).length > 0) metadata.labels = service.labels;
  if (Object.keys(service.annotations).length > 0) metadata.annotations = service.annotations;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata,
    spec,
    status: {
      loadBalancer:
        service.type === "LoadBalancer" && service.ingress.length > 0
          ? {
              ingress: service.ingress.map((i) => ({
                ...(i.ip ? { ip: i.ip, ipMode: "VIP" } : {}),
                ...(i.hostname ? { hostname: i.hostname } : {}),
              })),
            }
          : {},
    },
  };
}

/** One EndpointSlice per address family, labelled with the service name as the EndpointSlice controller does. */
export function sliceObjects(service: ScenarioService): KubeObject[] {
  if (service.endpoints === undefined) return [];
  const byFamily = new Map<string, typeof service.endpoints>();
  for (const endpoint of service.endpoints) {
    const family = isIP(endpoint.address) === 6 ? "IPv6" : "IPv4";
    byFamily.set(family, [...(byFamily.get(family) ?? []), endpoint]);
  }
  if (byFamily.size === 0) byFamily.set("IPv4", []);
  return [...byFamily.entries()].map(([family, endpoints]) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service.name}-${family.toLowerCase()}`,
      namespace: service.namespace,
      labels: {
        "kubernetes.io/service-name": service.name,
        "endpointslice.kubernetes.io/managed-by": "fedns-sim",
      },
    },
    addressType: family,
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready, serving: e.ready, terminating: false },
      ...(e.zone === undefined ? {} : { zone: e.zone }),
      ...(e.node === undefined ? {} : { nodeName: e.node }),
    })),
    ports: service.ports.map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      port: typeof p.targetPort === "number" ? p.targetPort : p.port,
      protocol: p.protocol,
    })),
  }));
}
