// The scenario file: which clusters to simulate and what they hold (format: config/scenario.md).
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const label = z.string().max(63).regex(DNS_LABEL, "must be a DNS label (lowercase letters, digits, '-')");
const stringMap = z.record(z.string(), z.string());
const ip = z.string().refine((s) => isIP(s) !== 0, "must be an IPv4 or IPv6 address");

const portSchema = z.strictObject({
  name: label.optional(),
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
  targetPort: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).optional(),
});

const ingressSchema = z
  .strictObject({
    ip: ip.optional(),
    hostname: z.string().regex(HOSTNAME, "must be a DNS name").optional(),
  })
  .refine((i) => i.ip !== undefined || i.hostname !== undefined, "needs ip or hostname");

const endpointSchema = z.strictObject({
  address: ip,
  ready: z.boolean().default(true),
  zone: z.string().min(1).optional(),
  node: z.string().min(1).optional(),
});

const serviceSchema = z.strictObject({
  name: label,
  namespace: label.default("default"),
  type: z.enum(["LoadBalancer", "ClusterIP", "NodePort"]).default("LoadBalancer"),
  labels: stringMap.default({}),
  annotations: stringMap.default({}),
  selector: stringMap.optional(),
  ports: z.array(portSchema).min(1),
  ingress: z.array(ingressSchema).default([]),
  endpoints: z.array(endpointSchema).optional(),
});

const nodeSchema = z.strictObject({
  name: z.string().regex(HOSTNAME, "must be a DNS name"),
  zone: z.string().min(1).optional(),
  region: z.string().min(1).optional(),
  labels: stringMap.default({}),
  ready: z.boolean().default(true),
});

const clusterSchema = z
  .strictObject({
    name: label,
    nodes: z.array(nodeSchema).default([]),
    namespaces: z.array(label).default([]),
    services: z.array(serviceSchema).default([]),
  })
  .superRefine((cluster, ctx) => {
    const nodes = new Set(cluster.nodes.map((n) => n.name));
    cluster.services.forEach((service, s) => {
      const names = service.ports.map((p) => p.name);
      if (service.ports.length > 1 && names.some((n) => n === undefined)) {
        ctx.addIssue({
          code: "custom",
          path: ["services", s, "ports"],
          message: "every port needs a name when there are several",
        });
      }
      service.endpoints?.forEach((endpoint, e) => {
        if (endpoint.node !== undefined && !nodes.has(endpoint.node)) {
          ctx.addIssue({
            code: "custom",
            path: ["services", s, "endpoints", e, "node"],
            message: `no node "${endpoint.node}" in cluster ${cluster.name}`,
          });
        }
      });
      const twin = cluster.services.findIndex((o) => o.name === service.name && o.namespace === service.namespace);
      if (twin !== s) {
        ctx.addIssue({
          code: "custom",
          path: ["services", s, "name"],
          message: `duplicate service ${service.namespace}/${service.name}`,
        });
      }
    });
  });

export const scenarioSchema = z
  .strictObject({
    clusters: z.array(clusterSchema).min(1),
  })
  .superRefine((scenario, ctx) => {
    const seen = new Set<string>();
    scenario.clusters.forEach((cluster, i) => {
      if (seen.has(cluster.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["clusters", i, "name"],
          message: `duplicate cluster name "${cluster.name}"`,
        });
      }
      seen.add(cluster.name);
    });
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioCluster = Scenario["clusters"][number];
export type ScenarioService = ScenarioCluster["services"][number];

function pathText(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path)
    text += typeof part === "number" ? `[${part}]` : text === "" ? String(part) : `.${String(part)}`;
  return text || "(root)";
}

/** Validates a parsed scenario; the error names every bad field, e.g. `clusters[0].services[1].ports[0].port`. */
export function parseScenario(data: unknown, source = "scenario"): Scenario {
  const result = scenarioSchema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${pathText(issue.path)}: ${issue.message}`);
  throw new Error(`${source}: invalid scenario:\n  ${problems.join("\n  ")}`);
}

export async function loadScenario(path: string): Promise<Scenario> {
  const text = await readFile(path, "utf8");
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseScenario(data, path);
}
