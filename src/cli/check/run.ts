// runCheck(): the whole diagnosis of a fedns installation, as findings. Config, etcd, each member
// cluster (access, labels, load balancers), etcd records against what the clusters imply, DNS answers.

import type { MemberCluster } from "../../config/members.ts";
import { planSettings } from "../../config/policy.ts";
import type { FednsConfig } from "../../config/schema.ts";
import { dnsLookup, type HostnameLookup, HostnameResolver } from "../../controller/hostnames.ts";
import { ownerOf, serviceUnitOf } from "../../federation/keys.ts";
import { plan } from "../../federation/plan.ts";
import type { ClusterState, Plan, PlanOptions } from "../../federation/state.ts";
import { isPolicyKind } from "../../federation/trust.ts";
import { parseHostPort } from "../../obs/http.ts";
import { normalizePrefix, zoneOf } from "../../records/name.ts";
import type { SkydnsService } from "../../records/service.ts";
import type { KvBackend } from "../../store/kv.ts";
import { clusterSummary, federationFindings, loadBalancerFindings, locationFindings } from "./cluster-findings.ts";
import { readCluster } from "./cluster-read.ts";
import { checkDns, expectationsOf } from "./dns-check.ts";
import { checkDnsIdentity } from "./dns-identity.ts";
import { ownedRecords, readEtcd } from "./etcd-check.ts";
import { error, exitCodeOf, type Finding, listed, ok, warn } from "./findings.ts";
import { memberClustersOfConfig } from "./members.ts";
import { compareRecords } from "./records-compare.ts";
import { shortNameFindings } from "./short-findings.ts";

export interface CheckOptions {
  /** DNS server to resolve the names against, HOST:PORT; default config dns.listen (wildcard -> loopback). */
  dns?: string;
  /** Only these contexts of the config's kubeconfig. */
  contexts?: string[];
  /** Limit of each network step (default 5000 ms). */
  timeoutMs?: number;
  /** Resolves load balancer hostnames (default: controller.resolver, as the controller). */
  lookup?: HostnameLookup;
  /** Use this store instead of one built from config.etcd (left open). */
  backend?: KvBackend;
  /** The store as `fedns serve` connects to it (dns.etcd), left open; default built from the config (or `backend` without dns.etcd). */
  dnsBackend?: KvBackend;
  /** These member clusters instead of the config's (tests). */
  members?: MemberCluster[];
  /** Skip resolving the names against the DNS server. */
  skipDns?: boolean;
}

export interface CheckReport {
  findings: Finding[];
  /** 0: nothing wrong (warnings allowed); 1: at least one error. */
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

export async function runCheck(config: FednsConfig, options: CheckOptions = {}): Promise<CheckReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const findings: Finding[] = [];
  const prefix = normalizePrefix(config.etcd.prefix);
  const federation = config.federation;
  const domain = config.domain;
  const owner = federation === undefined ? undefined : ownerOf(federation);
  const zones = config.zones ?? (domain === undefined ? [] : [domain]);
  /** --context: only some member clusters, so nothing federation-wide can be concluded. */
  const partial = (options.contexts?.length ?? 0) > 0;

  // Config.
  const members =
    options.members === undefined
      ? memberClustersOfConfig(config, options.contexts)
      : { members: options.members, findings: [] };
  findings.push(...configFindings(config, zones), ...members.findings);
  if (!findings.some((finding) => finding.severity === "error")) {
    findings.push(
      ok(
        "config",
        "config-ok",
        `federation ${federation}, domain ${domain}, ${members.members.length} member cluster${members.members.length === 1 ? "" : "s"} (${listed(members.members.map((m) => m.name))})`,
      ),
    );
  }

  // etcd and the clusters, in parallel.
  const resolvedHostnames = new Map<string, string[]>();
  const dnsBackend = options.dnsBackend ?? (config.dns.etcd === undefined ? options.backend : undefined);
  const [etcd, identity, reads] = await Promise.all([
    readEtcd(config, owner, timeoutMs, options.backend),
    checkDnsIdentity(config, timeoutMs, dnsBackend),
    Promise.all(
      members.members.map((member) =>
        readCluster(member, {
          timeoutMs,
          serviceLabelSelector: config.controller.labelSelector,
          resolvedHostnames,
          caps: config.controller.clusterCaps,
        }),
      ),
    ),
  ]);
  findings.push(...etcd.findings, ...identity);
  const clusters = reads.flatMap((read) => (read.state === undefined ? [] : [read.state]));
  await resolveHostnames(clusters, resolvedHostnames, config, options.lookup, timeoutMs);

  const namespaces = config.controller.namespaces;
  for (const read of reads) {
    findings.push(...read.findings);
    if (read.state === undefined) continue;
    findings.push(
      clusterSummary(read.state, namespaces),
      ...locationFindings(read.state),
      ...loadBalancerFindings(read.state, namespaces),
    );
  }
  findings.push(...shortNameFindings(config, clusters));
  const unread = reads.filter((read) => read.state === undefined).map((read) => read.name);
  // Whether a service is healthy somewhere can only be told with every member cluster read.
  if (unread.length === 0 && !partial) findings.push(...federationFindings(clusters, namespaces));

  if (federation === undefined || domain === undefined || owner === undefined) {
    return report(findings);
  }

  // What the clusters imply, against etcd.
  const planOptions: PlanOptions = {
    federation,
    domain,
    prefix,
    owner,
    ...planSettings(config),
  };
  // Without every member cluster (unreadable, or missing from a broken kubeconfig) the plan would be wrong.
  const complete = !partial && unread.length === 0 && !members.findings.some((finding) => finding.severity === "error");
  const desired: Plan | undefined = complete ? plan({ clusters: byName(clusters) }, planOptions) : undefined;
  if (desired !== undefined) findings.push(...planFindings(desired));
  const owned = etcd.kvs === undefined ? undefined : ownedRecords(etcd.kvs, owner);
  if (desired !== undefined && etcd.kvs !== undefined) {
    findings.push(...compareRecords(desired, etcd.kvs, { prefix, federation, owner }));
  } else {
    findings.push(
      warn(
        "records",
        "records-not-compared",
        partial
          ? "not compared with what the clusters imply: --context checks only some of the member clusters"
          : unread.length > 0
            ? `not compared with what the clusters imply: ${listed(unread)} could not be read`
            : !complete
              ? "not compared: the member clusters are not all known (see the config errors)"
              : "not compared: etcd could not be read",
        "fix the errors above, then run fedns check again",
      ),
    );
  }

  if (!partial && unread.length > 0 && owned !== undefined) {
    findings.push(...heldFindings(clusters, unread, owned, planOptions));
  }

  // DNS answers: as etcd holds them (the records check covers etcd against the clusters), else as planned.
  if (options.skipDns !== true) {
    const source = owned !== undefined ? "etcd holds" : desired !== undefined ? "the clusters imply" : undefined;
    const records = owned ?? (desired === undefined ? undefined : allRecords(desired));
    if (source !== undefined && records !== undefined) {
      findings.push(
        ...(await checkDns(expectationsOf(prefix, records), {
          server: dnsServer(options.dns ?? config.dns.listen),
          zone: zoneOf(domain, zones) ?? domain,
          timeoutMs,
          source,
        })),
      );
    }
  }
  return report(findings);
}

/**
 * What the controller leaves as etcd holds it while `unread` clusters cannot be read (plan.held, with the
 * clusters as unseen: the one rule of federation/grace.ts, within the grace period since no clock is given).
 */
function heldFindings(
  clusters: readonly ClusterState[],
  unread: readonly string[],
  owned: ReadonlyMap<string, SkydnsService>,
  planOptions: PlanOptions,
): Finding[] {
  const unitOf = serviceUnitOf(planOptions.prefix, planOptions.federation);
  const lastKnown = new Map<string, Set<string | undefined>>();
  for (const [key, record] of owned) {
    const unit = unitOf(key);
    if (unit === undefined) continue;
    let sources = lastKnown.get(unit);
    if (sources === undefined) {
      sources = new Set();
      lastKnown.set(unit, sources);
    }
    sources.add(record.cluster);
  }
  const unseen = new Map(unread.map((name) => [name, 0]));
  const held = plan({ clusters: byName(clusters), unseen, lastKnown }, planOptions).held;
  if (held.size === 0) return [];
  const seconds = Math.round((planOptions.graceMs ?? 0) / 1000);
  return [
    warn(
      "records",
      "records-held",
      `${held.size} service${held.size === 1 ? "" : "s"} with records of ${listed([...unread])} in etcd: the controller leaves ${held.size === 1 ? "it" : "them"} as etcd holds ${held.size === 1 ? "it" : "them"} for ${seconds} s (controller.gracePeriodSeconds) after losing the cluster, then withdraws all but a service's last addresses: ${listed([...held.keys()])}`,
      "make the cluster readable again (see its findings above)",
      { held: Object.fromEntries(held) },
    ),
  ];
}

function report(findings: Finding[]): CheckReport {
  return { findings, exitCode: exitCodeOf(findings) };
}

function configFindings(config: FednsConfig, zones: readonly string[]): Finding[] {
  const findings: Finding[] = [];
  for (const field of ["federation", "domain"] as const) {
    if (config[field] !== undefined) continue;
    findings.push(
      error(
        "config",
        "config-incomplete",
        `${field} is not set, so the federated names cannot be computed`,
        `set ${field}: in the config, or pass --${field}`,
      ),
    );
  }
  if (config.domain !== undefined && zones.length > 0 && zoneOf(config.domain, zones) === undefined) {
    findings.push(
      error(
        "config",
        "domain-not-served",
        `domain ${config.domain} is not inside the served zones (${zones.join(", ")}): the DNS server refuses its names`,
        `add ${config.domain} to zones:`,
      ),
    );
  }
  return findings;
}

/** plan()'s own warnings (invalid labels, bad TTL annotations, ...); "no-location" is covered per cluster. */
function planFindings(desired: Plan): Finding[] {
  return desired.warnings
    .filter((warning) => warning.kind !== "no-location")
    .map((warning) =>
      warn(
        warning.cluster !== undefined ? `cluster ${warning.cluster}` : `service ${warning.service ?? "?"}`,
        `plan-${warning.kind}`,
        warning.service !== undefined && warning.cluster !== undefined
          ? `service ${warning.service}: ${warning.message}`
          : warning.message,
        isPolicyKind(warning.kind)
          ? "the controller refuses this too: the cluster's clusters[].trust or controller.limits (docs/trust.md)"
          : "the controller skips this too; fix the Kubernetes object or the config",
      ),
    );
}

function byName(clusters: readonly ClusterState[]): Map<string, ClusterState> {
  return new Map(clusters.map((cluster) => [cluster.name, cluster]));
}

function allRecords(desired: Plan): Map<string, SkydnsService> {
  const records = new Map<string, SkydnsService>();
  for (const service of desired.services.values()) for (const [key, value] of service) records.set(key, value);
  return records;
}

/** The address to query: a wildcard listen address means this machine. */
function dnsServer(listen: string): { host: string; port: number } {
  const { host, port } = parseHostPort(listen);
  if (host === "0.0.0.0") return { host: "127.0.0.1", port };
  if (host === "::") return { host: "::1", port };
  return { host, port };
}

/** Resolves the hostname-only load balancers as the controller does; failures leave them unresolved. */
async function resolveHostnames(
  clusters: readonly ClusterState[],
  into: Map<string, string[]>,
  config: FednsConfig,
  lookup: HostnameLookup | undefined,
  timeoutMs: number,
): Promise<void> {
  const hostnames = new Set<string>();
  for (const cluster of clusters) {
    for (const shard of cluster.services.values()) {
      for (const ingress of shard.ingress) {
        if (ingress.ip === undefined && ingress.hostname !== undefined) hostnames.add(ingress.hostname);
      }
    }
  }
  if (hostnames.size === 0) return;
  const settings = config.controller.resolver;
  const dns = lookup === undefined ? dnsLookup(settings) : undefined;
  const resolver = new HostnameResolver({
    lookup: lookup ?? dns!.lookup,
    concurrency: settings.concurrency,
    lookupTimeoutMs: timeoutMs,
    onChange: () => {},
  });
  try {
    await resolver.settle(hostnames, timeoutMs);
    for (const [hostname, addresses] of resolver.resolved) into.set(hostname, addresses);
  } finally {
    resolver.stop();
    dns?.cancel();
  }
}
