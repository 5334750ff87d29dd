// The federation's key layout in etcd (SPEC §3), written once: who owns a key (`owner`), which unit (service) a
// key belongs to, and which name a key holds a record of. The writer, the reconciler and `fedns check` all use it.
import { normalizePrefix } from "../records/name.ts";

/** The `owner` field of every record a federation's controller writes. */
export function ownerOf(federation: string): string {
  return `fedns/${federation}`;
}

/** The leader election of a federation's controllers. */
export function electionOf(federation: string): string {
  return `${ownerOf(federation)}/leader`;
}

/** The unit a key belongs to, or undefined when it lies outside the federation's layout. */
export type UnitOf = (key: string) => string | undefined;

/** Unit id for owned keys that no unit claims: writing it empty removes such leftovers. */
export const UNKNOWN_UNIT = "";

/**
 * Units of fedns keys: `<prefix>/<domain reversed>/[<region>/[<zone>/]]svc/<federation>/<namespace>/<service>/…`
 * belongs to unit `<namespace>/<service>`.
 */
export function serviceUnitOf(prefix: string, federation: string): UnitOf {
  const base = `${normalizePrefix(prefix)}/`;
  return (key) => {
    if (!key.startsWith(base)) return undefined;
    const segments = key.slice(base.length).split("/");
    // From the right, as a zone or domain label could also read "svc"; namespace and service names never
    // start with "_", which tells them apart from the SRV labels (`_tcp/_http`) below the service.
    for (let i = segments.length - 4; i >= 0; i--) {
      const namespace = segments[i + 2] ?? "_";
      const service = segments[i + 3] ?? "_";
      if (segments[i] !== "svc" || segments[i + 1] !== federation) continue;
      if (namespace.startsWith("_") || service.startsWith("_")) continue;
      return `${namespace}/${service}`;
    }
    return undefined;
  };
}

/** The name a record key belongs to (its path without the leaf): the records of one name change together. */
export function nameOfKey(key: string): string {
  const slash = key.lastIndexOf("/");
  return slash < 0 ? key : key.slice(0, slash);
}

/** The federation an owner string names (`fedns/<federation>`), or undefined for other owners. */
export function federationOfOwner(owner: string): string | undefined {
  const base = ownerOf("");
  return owner.startsWith(base) && owner.length > base.length ? owner.slice(base.length) : undefined;
}

/** The unit layout of the keys an owner writes: its federation's services (nothing for other owners). */
export function unitsOfOwner(prefix: string, owner: string): UnitOf {
  const federation = federationOfOwner(owner);
  return federation === undefined ? () => undefined : serviceUnitOf(prefix, federation);
}
