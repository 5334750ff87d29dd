// How much one federation (and one member cluster in it) may make plan() write (docs/trust.md).
// Past a limit the excess is dropped deterministically: inputs are sorted and the first N kept, so the
// same objects are dropped every time (no churn) and the rest of the federation is untouched.
// Pure.
import { compare } from "./health.ts";
import type { PlanWarningKind } from "./state.ts";

export interface Limits {
  /** Distinct zones in the whole federation (each one is a name of every service). */
  zones: number;
  /** Distinct regions in the whole federation. */
  regions: number;
  /** Records of one service over all its names (global, regions, zones, SRV). */
  recordsPerService: number;
  /** Load-balancer addresses one cluster contributes over all its services (each is one record per name level). */
  recordsPerCluster: number;
  /** Distinct (protocol, name, port) of one service: its SRV records per name. */
  portsPerService: number;
  /** Addresses of one shard (one Service in one cluster). */
  addressesPerShard: number;
}

export const DEFAULT_LIMITS: Limits = {
  zones: 256,
  regions: 64,
  recordsPerService: 2000,
  recordsPerCluster: 20_000,
  portsPerService: 64,
  addressesPerShard: 32,
};

export type LimitName = keyof Limits;

/** The warning kind of each limit: `limit-<name>`, also the metric's `kind` label. */
export function limitKind(limit: LimitName): PlanWarningKind {
  return `limit-${limit}`;
}

/**
 * Fair, deterministic admission of a shared budget: each owner's candidates sorted, then taken in
 * rounds (owners by name, one candidate each per round) until `max` distinct values are admitted.
 * A value several owners propose is admitted once for all. One owner proposing thousands of values
 * therefore takes only what the others leave, never their share.
 */
export function admitFairly(proposals: ReadonlyMap<string, Iterable<string>>, max: number): Set<string> {
  const admitted = new Set<string>();
  const queues = [...proposals.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([, values]) => [...new Set(values)].sort(compare));
  let total = 0;
  for (const queue of queues) total += queue.length;
  if (total <= max) {
    for (const queue of queues) for (const value of queue) admitted.add(value);
    return admitted;
  }
  const positions = queues.map(() => 0);
  let progressed = true;
  while (admitted.size < max && progressed) {
    progressed = false;
    for (let i = 0; i < queues.length && admitted.size < max; i++) {
      const queue = queues[i]!;
      // Skip values another owner already brought in: they cost this owner nothing.
      while (positions[i]! < queue.length && admitted.has(queue[positions[i]!]!)) positions[i]!++;
      if (positions[i]! >= queue.length) continue;
      admitted.add(queue[positions[i]!]!);
      positions[i]!++;
      progressed = true;
    }
  }
  return admitted;
}

/** The first `max` of `items` (already in their deterministic order), and how many were dropped. */
export function firstN<T>(items: readonly T[], max: number): { kept: T[]; dropped: number } {
  if (items.length <= max) return { kept: items as T[], dropped: 0 };
  return { kept: items.slice(0, max), dropped: items.length - max };
}

/**
 * The keys of a cluster's shards admitted under its record budget: shards in key order, each costing
 * its addresses (at most `addressesPerShard`), admitted while the running total stays within
 * `recordsPerCluster`. The usual case (the whole cluster fits) is one pass without sorting.
 */
export function admittedShards(costs: ReadonlyMap<string, number>, limits: Limits): Set<string> | undefined {
  let total = 0;
  for (const cost of costs.values()) total += Math.min(cost, limits.addressesPerShard);
  if (total <= limits.recordsPerCluster) return undefined;
  const admitted = new Set<string>();
  let used = 0;
  for (const key of [...costs.keys()].sort(compare)) {
    const cost = Math.min(costs.get(key)!, limits.addressesPerShard);
    if (used + cost > limits.recordsPerCluster) break;
    used += cost;
    admitted.add(key);
  }
  return admitted;
}
