// The fedns YAML config: one schema for every subcommand, validated at start.
// Defaults live here so that `fedns dev`, the docs in config/ and the code agree.
import { isIP } from "node:net";
import { z } from "zod";
import { DEFAULT_CAPS } from "../controller/caps.ts";
import { DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES } from "../dns/cache.ts";
import { UDP_TRANSPORT_CHOICES } from "../dns/udp/transport.ts";
import { DEFAULT_LIMITS } from "../federation/limits.ts";
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

/**
 * Longest cluster name: each of a cluster's records lives under the etcd key leaf `<cluster>-<8 hex>`
 * (federation/names.ts addressLeaf), which must fit one 63-character DNS label: 63 - 1 - 8 = 54.
 */
export const MAX_CLUSTER_NAME_LENGTH = 54;

/** Why `name` cannot name a member cluster, or undefined when it can. */
export function clusterNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return "must be a lowercase DNS label (a-z, 0-9, '-')";
  if (name.length > MAX_CLUSTER_NAME_LENGTH) return clusterNameTooLong(name);
  return undefined;
}

/** The message for a cluster name over MAX_CLUSTER_NAME_LENGTH (shared with kubeconfig context names). */
export function clusterNameTooLong(name: string): string {
  return (
    `must be at most ${MAX_CLUSTER_NAME_LENGTH} characters (has ${name.length}): the cluster's etcd key leaf ` +
    `"<cluster>-<8 hex>" must fit in one 63-character DNS label`
  );
}

const clusterName = z.string().superRefine((value, ctx) => {
  const problem = clusterNameProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

// Kubernetes label selectors, checked with the grammar of apimachinery's labels.Parse (the API server
// answers 400 to anything else): comma-separated requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`,
// `k in (v1,v2)`, `k notin (v)`, and `k>n`, `k<n` with integer n.

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SELECTOR_SYMBOLS = "=!(),<>";
const SELECTOR_SPACE = " \t\r\n";

type SelectorToken = { kind: "identifier" | "symbol"; text: string } | { kind: "end"; text: "" };

function selectorTokens(selector: string): SelectorToken[] {
  const tokens: SelectorToken[] = [];
  let i = 0;
  while (i < selector.length) {
    const ch = selector[i]!;
    if (SELECTOR_SPACE.includes(ch)) {
      i++;
    } else if (SELECTOR_SYMBOLS.includes(ch)) {
      const two = selector.slice(i, i + 2);
      const text = two === "==" || two === "!=" ? two : ch;
      tokens.push({ kind: "symbol", text });
      i += text.length;
    } else {
      let j = i;
      while (j < selector.length && !SELECTOR_SPACE.includes(selector[j]!) && !SELECTOR_SYMBOLS.includes(selector[j]!))
        j++;
      tokens.push({ kind: "identifier", text: selector.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: "end", text: "" });
  return tokens;
}

function labelKeyProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return `invalid label key "${key}": at most one '/'`;
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return `invalid label key "${key}": the prefix before '/' must not be empty`;
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      return `invalid label key "${key}": the prefix must be a lowercase DNS subdomain of at most 253 characters`;
    }
  }
  if (name.length > 63 || !LABEL_NAME.test(name)) {
    return `invalid label key "${key}": the name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric`;
  }
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return `invalid label value "${value}": must be at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric`;
  }
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function describe(token: SelectorToken): string {
  return token.kind === "end" ? "end of selector" : `"${token.text}"`;
}

/** Why `selector` is not a Kubernetes label selector, or undefined when it is ("" selects everything). */
export function labelSelectorProblem(selector: string): string | undefined {
  const tokens = selectorTokens(selector);
  let at = 0;
  const peek = (): SelectorToken => tokens[at]!;
  const next = (): SelectorToken => tokens[Math.min(at++, tokens.length - 1)]!;
  const endOfRequirement = (token: SelectorToken): boolean =>
    token.kind === "end" || (token.kind === "symbol" && token.text === ",");

  if (peek().kind === "end") return undefined;
  for (;;) {
    // One requirement: [!]key [operator value(s)].
    let token = next();
    const negated = token.kind === "symbol" && token.text === "!";
    if (negated) token = next();
    if (token.kind !== "identifier") return `expected a label key, found ${describe(token)}`;
    const key = token.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) return keyProblem;
    if (!negated && !endOfRequirement(peek())) {
      const operator = next();
      const op = operator.text;
      if (op === "in" || op === "notin") {
        const open = next();
        if (open.text !== "(" || open.kind !== "symbol")
          return `expected "(" after "${key} ${op}", found ${describe(open)}`;
        const values: string[] = [];
        let expectValue = true;
        for (;;) {
          const item = next();
          if (item.kind === "identifier" && expectValue) {
            values.push(item.text);
            expectValue = false;
          } else if (item.kind === "symbol" && item.text === ",") {
            if (expectValue) values.push("");
            expectValue = true;
          } else if (item.kind === "symbol" && item.text === ")") {
            if (expectValue && values.length > 0) values.push("");
            break;
          } else {
            return `expected a value, "," or ")" in "${key} ${op} (...)", found ${describe(item)}`;
          }
        }
        if (values.length === 0) return `"${key} ${op} ()" needs at least one value`;
        for (const value of values) {
          const problem = labelValueProblem(value);
          if (problem !== undefined) return problem;
        }
      } else if (operator.kind === "symbol" && ["=", "==", "!=", ">", "<"].includes(op)) {
        let value = "";
        if (!endOfRequirement(peek())) {
          const item = next();
          if (item.kind !== "identifier") return `expected a value after "${key}${op}", found ${describe(item)}`;
          value = item.text;
        }
        if (op === ">" || op === "<") {
          if (!/^[+-]?[0-9]+$/.test(value) || BigInt(value) < INT64_MIN || BigInt(value) > INT64_MAX) {
            return `"${key}${op}" needs an integer value, found "${value}"`;
          }
        } else {
          const problem = labelValueProblem(value);
          if (problem !== undefined) return problem;
        }
      } else {
        return `expected an operator (=, ==, !=, in, notin, >, <) after "${key}", found ${describe(operator)}`;
      }
    }
    const separator = next();
    if (separator.kind === "end") return undefined;
    if (separator.kind !== "symbol" || separator.text !== ",") {
      return `expected "," or end of selector after a requirement, found ${describe(separator)}`;
    }
    const following = peek();
    if (following.kind !== "identifier" && !(following.kind === "symbol" && following.text === "!")) {
      return `expected a requirement after ",", found ${describe(following)}`;
    }
  }
}

const labelSelector = z.string().superRefine((value, ctx) => {
  const problem = labelSelectorProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: `not a valid label selector: ${problem}` });
});

/** A PEM file's path: pasting the PEM itself here would put key material into the config (and errors). */
const pemFile = z
  .string()
  .min(1)
  .refine((value) => !value.includes("-----BEGIN") && !/[\r\n]/.test(value), "must be a file path, not PEM contents");

const etcdTlsSchema = z
  .object({
    ca: pemFile.optional(),
    cert: pemFile.optional(),
    key: pemFile.optional(),
  })
  .strict()
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), "cert and key go together");

/** Who a process is to etcd: an etcd user (password inline or from a file) and/or a TLS client certificate. */
const etcdIdentityFields = {
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordFile: z.string().min(1).optional(),
  tls: etcdTlsSchema.optional(),
};

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
    ...etcdIdentityFields,
    dialTimeoutMs: z.number().int().min(100).default(3000),
  })
  .strict();

/**
 * The DNS servers' own etcd identity (`dns.etcd`), meant for a role that may only read the prefix. It replaces
 * etcd's username, password and client certificate for `fedns serve`; endpoints, prefix and dial timeout stay
 * etcd's, and so does etcd.tls.ca when no tls is given here (the CA checks the server, it identifies no one).
 */
const dnsEtcdSchema = z.object(etcdIdentityFields).strict();

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

// --- protocol edges: DNS cookies and response-rate limiting (src/dns/cookies.ts, rrl.ts) ---
/** Never echoed in messages: a secret. */
const cookieSecret = z.string().regex(/^[0-9a-fA-F]{32}$/, "must be 32 hex digits (16 bytes)");

const cookiesSchema = z
  .object({
    /** RFC 9018 server secret shared by all replicas; or secretFile. Absent: one per process (with a warning). */
    secret: cookieSecret.optional(),
    secretFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((cookies) => cookies.secret === undefined || cookies.secretFile === undefined, "give secret or secretFile");

const network = z.string().refine((text) => {
  const [address, prefix, ...rest] = text.split("/");
  if (address === undefined || rest.length > 0 || !isIP(address)) return false;
  const max = isIP(address) === 4 ? 32 : 128;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
}, "must be an IP address or network like 10.0.0.0/8");

const rrlSchema = z
  .object({
    /** Off by default; turn on whenever more than the member clusters' forwarders can reach the server. */
    enabled: z.boolean().default(false),
    responsesPerSecond: z.number().int().min(1).max(100_000).default(20),
    /** Every slip-th limited reply is sent truncated (TC) so real clients retry over TCP; 0 drops all. */
    slip: z.number().int().min(0).max(100).default(2),
    ipv4PrefixLength: z.number().int().min(8).max(32).default(24),
    ipv6PrefixLength: z.number().int().min(16).max(128).default(56),
    /** Buckets in the fixed-size table. */
    tableSize: z.number().int().min(1024).max(16_777_216).default(65_536),
    /** Sources never limited, e.g. the member clusters' CoreDNS forwarders. */
    exempt: z.array(network).default([]),
  })
  .strict();

// --- zone transfers and TSIG (src/dns/tsig.ts, src/xfr/, docs/zone-transfers.md) ---
const tsigKeySchema = z
  .object({
    name: dnsName,
    algorithm: z.enum(["hmac-sha256", "hmac-sha384", "hmac-sha512"]),
    /** File holding the base64 secret (a mounted Secret); the secret itself is never in the config. */
    secretFile: z.string().min(1),
  })
  .strict();

const transferRuleSchema = z
  .object({ networks: z.array(network).min(1).optional(), key: dnsName.optional() })
  .strict()
  .refine((rule) => rule.networks !== undefined || rule.key !== undefined, "give networks and/or key");

const transferZoneSchema = z
  .object({
    zone: dnsName,
    /** Who may transfer the zone: a request matching every field of one rule is allowed. */
    allow: z.array(transferRuleSchema).default([]),
    /** Secondaries sent NOTIFY when the zone's serial changes. */
    notify: z.array(z.object({ address: hostPort, key: dnsName.optional() }).strict()).default([]),
  })
  .strict();

const transfersSchema = z
  .object({
    zones: z.array(transferZoneSchema).default([]),
    /** Records (deleted plus added) kept per zone for IXFR; older serials get a full transfer. */
    journalRecords: z.number().int().min(0).max(10_000_000).default(100_000),
    maxConcurrent: z.number().int().min(1).max(1000).default(8),
    maxConcurrentPerSource: z.number().int().min(1).max(100).default(2),
    notifyDebounceMs: z.number().int().min(0).max(60_000).default(1000),
    notifyRetryMaxMs: z.number().int().min(100).max(3_600_000).default(60_000),
  })
  .strict();

const dnsSchema = z
  .object({
    listen: hostPort.default("127.0.0.1:5353"),
    udpPayloadSize: z.number().int().min(512).max(4096).default(1232),
    /** auto: the batched native transport when its addon is built and loads, else node:dgram (logged once). */
    udpTransport: z.enum(UDP_TRANSPORT_CHOICES).default("auto"),
    defaultTtl: seconds.default(300),
    soa: soaSchema.default(soaSchema.parse({})),
    nameservers: z.array(z.object({ name: dnsName, address: z.string().optional() }).strict()).default([]),
    /**
     * `*` and `any` labels in questions match any label (CoreDNS etcd wildcards); false reads them
     * literally. Turn it off for a zone reachable from the internet: one wildcard question collects a subtree.
     */
    queryWildcards: z.boolean().default(true),
    /**
     * The response cache: at most `entries` replies totalling at most `bytes`; when either is reached the
     * oldest entry not asked for again is evicted (CLOCK, dns/cache.ts). Size `entries` above the number
     * of distinct questions the zones get (names, plus the names that do not exist, times the types
     * asked), or that traffic is served from misses.
     */
    cache: z
      .object({
        entries: z.number().int().min(1).default(DEFAULT_CACHE_ENTRIES),
        bytes: z.number().int().min(65_536).default(DEFAULT_CACHE_BYTES),
      })
      .strict()
      .default({ entries: DEFAULT_CACHE_ENTRIES, bytes: DEFAULT_CACHE_BYTES }),
    tcp: z
      .object({
        idleTimeoutMs: z.number().int().min(100).default(10_000),
        maxConnections: z.number().int().min(1).default(1000),
        /** Per source address; keeps one address from taking every slot. */
        maxConnectionsPerSource: z.number().int().min(1).default(32),
        /** A started message must complete within this time (Knot's tcp-io-timeout). */
        messageTimeoutMs: z.number().int().min(10).default(500),
      })
      .strict()
      .default({ idleTimeoutMs: 10_000, maxConnections: 1000, maxConnectionsPerSource: 32, messageTimeoutMs: 500 }),
    // --- protocol edges (NSID, cookies, response-rate limiting) ---
    /** RFC 5001 name server identifier, sent when asked; default the host name, "" for none. */
    nsid: z.string().max(256).optional(),
    cookies: cookiesSchema.default({}),
    rrl: rrlSchema.default(rrlSchema.parse({})),
    tsig: z
      .object({ keys: z.array(tsigKeySchema).default([]) })
      .strict()
      .default({ keys: [] }),
    transfers: transfersSchema.default(transfersSchema.parse({})),
    /** `fedns serve`'s etcd identity (read-only role); absent: etcd's own, which `fedns check` warns about. */
    etcd: dnsEtcdSchema.optional(),
  })
  .strict()
  .superRefine((dns, ctx) => {
    const keys = new Set(dns.tsig.keys.map((key) => key.name));
    for (const [i, zone] of dns.transfers.zones.entries()) {
      const used = [...zone.allow.map((rule) => rule.key), ...zone.notify.map((target) => target.key)];
      for (const key of used) {
        if (key !== undefined && !keys.has(key)) {
          ctx.addIssue({ code: "custom", path: ["transfers", "zones", i], message: `unknown TSIG key ${key}` });
        }
      }
    }
  });

/** plan()'s limits (federation/limits.ts, docs/trust.md); past one the excess is dropped, with a warning. */
const limitsSchema = z
  .object({
    zones: z.number().int().min(1).default(DEFAULT_LIMITS.zones),
    regions: z.number().int().min(1).default(DEFAULT_LIMITS.regions),
    recordsPerService: z.number().int().min(1).default(DEFAULT_LIMITS.recordsPerService),
    recordsPerCluster: z.number().int().min(1).default(DEFAULT_LIMITS.recordsPerCluster),
    portsPerService: z.number().int().min(0).default(DEFAULT_LIMITS.portsPerService),
    addressesPerShard: z.number().int().min(1).default(DEFAULT_LIMITS.addressesPerShard),
  })
  .strict();

/** A name server for LB hostname lookups: `ip`, `ip:port` or `[ipv6]:port` (what dns.Resolver.setServers takes). */
const nameServer = z.string().refine((text) => {
  if (isIP(text) !== 0) return true;
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text);
  const plain = /^([0-9.]+):(\d{1,5})$/.exec(text);
  const match = bracketed ?? plain;
  if (match === null) return false;
  const port = Number(match[2]);
  return isIP(match[1]!) === (bracketed === null ? 4 : 6) && port >= 1 && port <= 65535;
}, "must be an IP address with an optional port: 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53");

/** How the controller resolves load-balancer hostnames (controller/hostnames.ts, docs/trust.md). */
const resolverSchema = z
  .object({
    /** Name servers asked (in order); empty: the system's, from /etc/resolv.conf (never its search domains). */
    servers: z.array(nameServer).default([]),
    /** Per try, per server. */
    timeoutMs: z.number().int().min(100).max(60_000).default(2000),
    tries: z.number().int().min(1).max(10).default(2),
    /** Lookups in flight at most. */
    concurrency: z.number().int().min(1).max(256).default(8),
    /** Floor of the refresh interval (the record TTL), and first retry delay after a failure. */
    minRefreshSeconds: seconds.default(5),
  })
  .strict();

/** What one resource (Services, EndpointSlices, Nodes) of one member cluster may make the controller hold (docs/trust.md). */
const clusterCapsSchema = z
  .object({
    maxListPages: z.number().int().min(1).default(DEFAULT_CAPS.maxListPages),
    maxObjects: z.number().int().min(1).default(DEFAULT_CAPS.maxObjects),
    maxObjectBytes: z.number().int().min(1024).default(DEFAULT_CAPS.maxObjectBytes),
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
    /** Ceiling of the LB hostname refresh interval (record TTLs are clamped to it) and of its retry backoff. */
    hostnameRefreshSeconds: seconds.default(60),
    resolver: resolverSchema.default(resolverSchema.parse({})),
    batchMs: z.number().int().min(0).max(10_000).default(30),
    namespaces: z.array(dnsLabel).default([]),
    limits: limitsSchema.default(limitsSchema.parse({})),
    clusterCaps: clusterCapsSchema.default(clusterCapsSchema.parse({})),
    labelSelector: labelSelector.default(""),
    leaderElection: z
      .object({ enabled: z.boolean().default(true), leaseSeconds: z.number().int().min(2).default(10) })
      .strict()
      .default({ enabled: true, leaseSeconds: 10 }),
  })
  .strict();

/** What the operator trusts a member cluster to say (federation/trust.ts, docs/trust.md). */
const trustSchema = z
  .object({
    /** Namespaces it may federate; absent: all (within controller.namespaces). */
    namespaces: z.array(dnsLabel).min(1).optional(),
    /** Zones it may claim; absent: what its nodes say, except zones another cluster lists here. */
    zones: z.array(dnsLabel).optional(),
    regions: z.array(dnsLabel).optional(),
    /** Floor and ceiling of its fedns.io/ttl annotations, inside controller.ttl. */
    ttl: z
      .object({ min: seconds.optional(), max: seconds.optional() })
      .strict()
      .refine((ttl) => ttl.min === undefined || ttl.max === undefined || ttl.min <= ttl.max, "needs min <= max")
      .optional(),
    /** Networks its load-balancer addresses must be in (also how private-use addresses are allowed). */
    allowedNetworks: z.array(network).optional(),
  })
  .strict();

const clusterSchema = z
  .object({
    name: clusterName,
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    zone: dnsLabel.optional(),
    region: dnsLabel.optional(),
    trust: trustSchema.optional(),
    /** Networks this cluster's pods ask from (short names); longest prefix wins, before node addresses and pod CIDRs. */
    clientNetworks: z.array(network).max(10_000).optional(),
  })
  .strict()
  .refine((cluster) => cluster.zone === undefined || cluster.region !== undefined, {
    message: "a zone needs its region",
    path: ["region"],
  });

/** Short names for pods (SPEC §4a, docs/architecture.md): `S.N.F.svc.<clusterDomain>` answered per asking cluster. */
const shortNamesSchema = z
  .object({
    /** On by default: fedns serve is authoritative for `<federation>.svc.<clusterDomain>`. */
    enabled: z.boolean().default(true),
    /** The member clusters' cluster domain (kubelet --cluster-domain). */
    clusterDomain: dnsName.default("cluster.local"),
    /** etcd prefix of what the controller publishes for them; must not be below etcd.prefix (CoreDNS would serve it). */
    prefix: z
      .string()
      .regex(/^\/?[^/\s]+(\/[^/\s]+)*\/?$/, "must be a key prefix like /fedns-short")
      .default("/fedns-short"),
    /** Client networks published per member cluster, at most (node addresses and pod CIDRs count). */
    maxNetworksPerCluster: z.number().int().min(1).max(1_000_000).default(20_000),
  })
  .strict();

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
    shortNames: shortNamesSchema.default(shortNamesSchema.parse({})),
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
  .strict()
  .superRefine((config, ctx) => {
    const under = (key: string, prefix: string) =>
      `${key.replace(/\/+$/, "")}/`.startsWith(`${prefix.replace(/\/+$/, "")}/`);
    const records = `/${config.etcd.prefix.replace(/^\/+/, "")}`;
    const short = `/${config.shortNames.prefix.replace(/^\/+/, "")}`;
    if (under(short, records) || under(records, short)) {
      ctx.addIssue({
        code: "custom",
        path: ["shortNames", "prefix"],
        message: `must not overlap etcd.prefix (${config.etcd.prefix}): CoreDNS would serve its keys as records`,
      });
    }
  });

export type FednsConfig = z.infer<typeof configSchema>;
export type EtcdConfig = FednsConfig["etcd"];
export type DnsConfig = FednsConfig["dns"];
export type ControllerConfig = FednsConfig["controller"];
export type ClusterConfig = FednsConfig["clusters"][number];
export type ShortNamesConfig = FednsConfig["shortNames"];
