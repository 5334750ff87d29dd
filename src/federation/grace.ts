// What the store keeps of member clusters the plan cannot see (SPEC §5): a cluster's records are not changed
// until it has synced (`frozen`, within the grace period of its start); past that (`lapsed`) they are withdrawn
// like an unreachable cluster's (plan() treats those as stale), but never the last addresses of a service.

export interface UnsyncedClusters {
  frozen: ReadonlySet<string>;
  lapsed: ReadonlySet<string>;
}

/**
 * True when a unit must stay exactly as the store holds it: some of its stored records come from a cluster
 * still frozen, or from a lapsed one while the desired records hold no address at all (the last addresses).
 * `storedClusters`: the `cluster` fields of the unit's stored records of ours.
 */
export function heldByUnsynced(
  storedClusters: ReadonlySet<string | undefined>,
  desired: ReadonlyMap<string, { cluster?: string | undefined }>,
  unsynced: UnsyncedClusters,
): boolean {
  if (unsynced.frozen.size === 0 && unsynced.lapsed.size === 0) return false;
  let lapsedAddresses = false;
  for (const cluster of storedClusters) {
    if (cluster === undefined) continue;
    if (unsynced.frozen.has(cluster)) return true;
    if (unsynced.lapsed.has(cluster)) lapsedAddresses = true;
  }
  if (!lapsedAddresses) return false;
  for (const record of desired.values()) if (record.cluster !== undefined) return false;
  return true;
}
