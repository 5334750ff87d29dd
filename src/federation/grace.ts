// The grace period (SPEC §5), decided here and only here, for plan(): a member cluster that cannot be seen
// keeps its records for `graceMs`, then they are withdrawn, but never the last addresses of a service.
// - An unreachable cluster (it had synced; ClusterState.unreachableSince) keeps its shards; past the grace
//   period plan() treats it as stale.
// - A cluster that has not synced (yet) is unseen: plan() knows only which units the store holds records of
//   it for (FederationState.lastKnown). Within the grace period those units stay exactly as the store has
//   them; past it they are withdrawn like a stale cluster's, unless that would leave the unit no address.
// Timers elsewhere only wake the controller up at `recheckAt` to plan again; they decide nothing.
import type { SkydnsService } from "../records/service.ts";
import type { ClusterState, FederationState, HeldUnit } from "./state.ts";

export const DEFAULT_GRACE_MS = 60_000;

/** The grace period that started at `since` is over at `now`. Without a clock (`now` undefined) it never is. */
export function graceOver(since: number, now: number | undefined, graceMs: number): boolean {
  return now !== undefined && now - since >= graceMs;
}

/** Whether plan() withdraws the cluster's shards (except last addresses): stale, or unreachable past grace. */
export function isStale(
  cluster: Pick<ClusterState, "status" | "unreachableSince">,
  now: number | undefined,
  graceMs: number,
): boolean {
  if (cluster.status === "stale") return true;
  return cluster.unreachableSince !== undefined && graceOver(cluster.unreachableSince, now, graceMs);
}

/** The next moment a grace period of this state ends (the plan may change then), if any is running. */
export function nextGraceEnd(state: FederationState, graceMs: number): number | undefined {
  const now = state.now;
  if (now === undefined) return undefined;
  let next: number | undefined;
  const consider = (since: number): void => {
    const end = since + graceMs;
    if (end > now && (next === undefined || end < next)) next = end;
  };
  for (const cluster of state.clusters.values()) {
    if (cluster.status === "active" && cluster.unreachableSince !== undefined) consider(cluster.unreachableSince);
  }
  for (const since of state.unseen?.values() ?? []) consider(since);
  return next;
}

/**
 * The units left exactly as the store holds them because of unseen clusters: those with records of a cluster
 * within its grace period, and those with records of a cluster past it whose desired records (from the seen
 * clusters) hold no address at all: its records are the unit's last addresses.
 */
export function heldUnits(
  state: FederationState,
  desired: ReadonlyMap<string, ReadonlyMap<string, SkydnsService>>,
  graceMs: number,
): Map<string, HeldUnit> {
  const held = new Map<string, HeldUnit>();
  const unseen = state.unseen;
  if (unseen === undefined || unseen.size === 0 || state.lastKnown === undefined) return held;
  for (const [unit, clusters] of state.lastKnown) {
    const syncing: string[] = [];
    const lapsed: string[] = [];
    for (const cluster of clusters) {
      const since = cluster === undefined ? undefined : unseen.get(cluster);
      if (since === undefined) continue;
      (graceOver(since, state.now, graceMs) ? lapsed : syncing).push(cluster!);
    }
    if (syncing.length > 0) {
      held.set(unit, { reason: "syncing", clusters: syncing.sort() });
    } else if (lapsed.length > 0 && !hasAddress(desired.get(unit))) {
      held.set(unit, { reason: "last-addresses", clusters: lapsed.sort() });
    }
  }
  return held;
}

function hasAddress(records: ReadonlyMap<string, SkydnsService> | undefined): boolean {
  for (const record of records?.values() ?? []) if (record.cluster !== undefined) return true;
  return false;
}
