// The fedns YAML config: one schema for every subcommand, validated at start.
// Defaults live here so that `fedns dev`, the docs in config/ and the code agree.
import { z } from "zod";
import { nameProblem, normalizeName } from "../records/name.ts";

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:5353 or [::1]:53")
  .refine((value) => !(Number(value.slice(value.lastIndexOf(":") + 1)) > 65535), "port must be at most 65535");

const dnsName = z
  .string()
  .min(1)
  .transform((value) => normalizeName(value))
  .superRefine((value, ctx) => {
    const problem = nameProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a lowercase DNS label (a-z, 0-9, '-', at most 63)");

const seconds = z.number().int().min(1);

const etcdSchema = z
  .object({
    endpoints: z
      .array(z.url({ protocol: /^https?$/ }))
      .min(1)
      .default(["http://127.0.0.1:2379"]),
    prefix: z
      .string()
      .regex(/^\/?[^/\s]+(\/[^/\s]+)*\/?$/, "must be a key prefix like /skydns")
      .default("/skydns"),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
    dialTimeoutMs: z.number().int().min(100).default(3000),
    tls: z
      .object({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
      })
      .strict()
      .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), "cert and key go together")
      .optional(),
  })
  .strict();

const soaSchema = z
  .object({
    mname: dnsName.optional(),
    rname: dnsName.optional(),
    refresh: seconds.default(7200),
    retry: seconds.default(1800),
    expire: seconds.default(86400),
    minimum: seconds.default(30),
  })
  .strict();

const dnsSchema = z
  .object({
    listen: hostPort.default("127.0.0.1:5353"),
    udpPayloadSize: z.number().int().min(512).max(4096).default(1232),
    defaultTtl: seconds.default(300),
    soa: soaSchema.default(soaSchema.parse({})),
    nameservers: z.array(z.object({ name: dnsName, address: z.string().optional() }).strict()).default([]),
    tcp: z
      .object({
        idleTimeoutMs: z.number().int().min(100).default(10_000),
        maxConnections: z.number().int().min(1).default(1000),
      })
      .strict()
      .default({ idleTimeoutMs: 10_000, maxConnections: 1000 }),
  })
  .strict();

const controllerSchema = z
  .object({
    ttl: z
      .object({ default: seconds.default(30), min: seconds.default(5), max: seconds.default(3600) })
      .strict()
      .refine((ttl) => ttl.min <= ttl.default && ttl.default <= ttl.max, "needs min <= default <= max")
      .default({ default: 30, min: 5, max: 3600 }),
    srv: z
      .object({
        priority: z.number().int().min(0).max(65535).default(10),
        weight: z.number().int().min(0).max(65535).default(100),
      })
      .strict()
      .default({ priority: 10, weight: 100 }),
    gracePeriodSeconds: z.number().int().min(0).default(60),
    startupSyncTimeoutSeconds: z.number().int().min(1).default(60),
    hostnameRefreshSeconds: seconds.default(60),
    batchMs: z.number().int().min(0).max(10_000).default(30),
    namespaces: z.array(dnsLabel).default([]),
    labelSelector: z.string().default(""),
    leaderElection: z
      .object({ enabled: z.boolean().default(true), leaseSeconds: z.number().int().min(2).default(10) })
      .strict()
      .default({ enabled: true, leaseSeconds: 10 }),
  })
  .strict();

const clusterSchema = z
  .object({
    name: dnsLabel,
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    zone: dnsLabel.optional(),
    region: dnsLabel.optional(),
  })
  .strict()
  .refine((cluster) => cluster.zone === undefined || cluster.region !== undefined, {
    message: "a zone needs its region",
    path: ["region"],
  });

export const configSchema = z
  .object({
    federation: dnsLabel.optional(),
    domain: dnsName.optional(),
    zones: z.array(dnsName).optional(),
    log: z
      .object({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
    metrics: z.object({ listen: hostPort.optional() }).strict().default({}),
    etcd: etcdSchema.default(etcdSchema.parse({})),
    dns: dnsSchema.default(dnsSchema.parse({})),
    controller: controllerSchema.default(controllerSchema.parse({})),
    kubeconfig: z.string().min(1).optional(),
    clusters: z
      .array(clusterSchema)
      .default([])
      .superRefine((clusters, ctx) => {
        const seen = new Set<string>();
        clusters.forEach((cluster, i) => {
          if (seen.has(cluster.name)) {
            ctx.addIssue({ code: "custom", message: `duplicate cluster name "${cluster.name}"`, path: [i, "name"] });
          }
          seen.add(cluster.name);
        });
      }),
  })
  .strict();

export type FednsConfig = z.infer<typeof configSchema>;
export type EtcdConfig = FednsConfig["etcd"];
export type DnsConfig = FednsConfig["dns"];
export type ControllerConfig = FednsConfig["controller"];
export type ClusterConfig = FednsConfig["clusters"][number];
