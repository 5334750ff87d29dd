// Which shards count (SPEC §2): selection, annotations, addresses and the healthy rule.
import { hostType } from "../records/service.ts";
import { hostnameKey, hostnameProblem } from "./hostnames.ts";
import type { ServiceShard } from "./state.ts";

export const ANNOTATION_FEDERATE = "fedns.io/federate";
export const ANNOTATION_REQUIRE_ENDPOINTS = "fedns.io/require-endpoints";
export const ANNOTATION_TTL = "fedns.io/ttl";

function isFalse(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === "false";
}

/** LoadBalancer Services in a selected namespace that did not opt out. */
export function isSelected(shard: ServiceShard, namespaces: readonly string[]): boolean {
  if (shard.type !== "LoadBalancer") return false;
  if (isFalse(shard.annotations[ANNOTATION_FEDERATE])) return false;
  return namespaces.length === 0 || namespaces.includes(shard.namespace);
}

export interface ShardAddress {
  /** Normalized: dotted quad for A (IPv4-mapped IPv6 included), RFC 5952 text for AAAA. */
  address: string;
  family: "A" | "AAAA";
}

export interface ShardAddresses {
  addresses: ShardAddress[];
  /** Strings that were not IP addresses, for warnings. */
  invalid: string[];
  /** Hostnames never resolved (federation/hostnames.ts), with why, for warnings. */
  refusedHostnames: { hostname: string; problem: string }[];
}

/**
 * The addresses of a shard's load balancer: each ingress `ip`, or, for an ingress with only a
 * `hostname`, what the controller resolved it to (nothing until it has). Deduplicated, sorted.
 */
export function shardAddresses(shard: ServiceShard, resolvedHostnames: ReadonlyMap<string, string[]>): ShardAddresses {
  const found = new Map<string, ShardAddress>();
  const invalid: string[] = [];
  const refusedHostnames: { hostname: string; problem: string }[] = [];
  const add = (raw: string): void => {
    const type = raw.includes("%") ? undefined : hostType(raw.trim());
    if (type?.kind === "A" || type?.kind === "AAAA") {
      found.set(type.address, { address: type.address, family: type.kind });
    } else {
      invalid.push(raw);
    }
  };
  for (const ingress of shard.ingress) {
    if (ingress.ip !== undefined && ingress.ip.length > 0) {
      add(ingress.ip);
    } else if (ingress.hostname !== undefined && ingress.hostname.length > 0) {
      const problem = hostnameProblem(ingress.hostname);
      if (problem !== undefined) {
        refusedHostnames.push({ hostname: ingress.hostname, problem });
        continue;
      }
      for (const address of resolvedHostnames.get(hostnameKey(ingress.hostname)) ?? []) add(address);
    }
  }
  const addresses = [...found.values()].sort((a, b) => compare(a.address, b.address));
  return { addresses, invalid, refusedHostnames };
}

export function requiresEndpoints(shard: ServiceShard): boolean {
  return !isFalse(shard.annotations[ANNOTATION_REQUIRE_ENDPOINTS]);
}

/** An endpoint whose `conditions.ready` is true or unset. */
export function hasReadyEndpoint(shard: ServiceShard): boolean {
  return shard.endpoints.some((endpoint) => endpoint.ready !== false);
}

/** Healthy = at least one address and (unless the annotation drops it) at least one ready endpoint. */
export function isHealthy(shard: ServiceShard, addresses: readonly ShardAddress[]): boolean {
  if (addresses.length === 0) return false;
  return !requiresEndpoints(shard) || hasReadyEndpoint(shard);
}

export interface TtlOptions {
  default: number;
  min: number;
  max: number;
}

export type TtlResult = { ttl: number } | { ttl: number; problem: string };

/** The `fedns.io/ttl` annotation clamped to [min, max]; a value that is not an integer gives the default. */
export function ttlOf(shard: ServiceShard, options: TtlOptions): TtlResult {
  const raw = shard.annotations[ANNOTATION_TTL];
  if (raw === undefined) return { ttl: options.default };
  const trimmed = raw.trim();
  if (!/^[+-]?\d+$/.test(trimmed)) {
    return {
      ttl: options.default,
      problem: `${ANNOTATION_TTL} ${JSON.stringify(raw)} is not an integer number of seconds; using ${options.default}`,
    };
  }
  const value = Number.parseInt(trimmed, 10);
  return { ttl: Math.min(options.max, Math.max(options.min, value)) };
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
