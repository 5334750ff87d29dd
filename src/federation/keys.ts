// The federation's key layout in etcd (SPEC §3), written once: who owns a key (`owner`), which unit (service) a
// key belongs to, and which name a key holds a record of. The writer, the reconciler and `fedns check` all use it.
import { normalizeName, normalizePrefix, wireNameProblem } from "../records/name.ts";

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

/**
 * Serial markers (docs/zone-transfers.md "Serials"): `/fedns-serial/<domain>`, outside every skydns prefix
 * (CoreDNS never reads it). The writer puts its federation domain's marker in every transaction that deletes
 * keys, so the marker's mod revision is at least that of every delete under the domain; the DNS servers take
 * it into a zone's serial, which a restart (that cannot see deletes) then keeps. The value is informative only.
 */
export const SERIAL_MARKER_PREFIX = "/fedns-serial/";

/** The serial marker key of a federation domain. */
export function serialMarkerKey(domain: string): string {
  return `${SERIAL_MARKER_PREFIX}${normalizeName(domain)}`;
}

/** What the writer puts at a marker: who moved it (never read back as anything but a check). */
export function serialMarkerValue(owner: string): string {
  return JSON.stringify({ owner });
}

/** Bytes of a marker value the DNS servers look at; anything longer is bad. */
const MAX_MARKER_VALUE = 512;

/**
 * The domain a marker key names, validated with its value: a DNS name (the key below SERIAL_MARKER_PREFIX,
 * lowercase, no trailing dot) and a JSON object whose `owner`, if any, is a string. Only the key's name and its
 * mod revision (etcd's own) are used; the value is checked so that something else's key there is reported.
 */
export function parseSerialMarker(key: string, value: string): { domain: string } | { error: string } {
  if (!key.startsWith(SERIAL_MARKER_PREFIX)) return { error: `not below ${SERIAL_MARKER_PREFIX}` };
  const domain = key.slice(SERIAL_MARKER_PREFIX.length);
  if (domain !== normalizeName(domain) || domain.includes("/") || domain.split(".").includes("")) {
    return { error: "the key is not a lowercase domain name without a trailing dot" };
  }
  const problem = wireNameProblem(domain);
  if (problem !== undefined) return { error: `the key is not a valid DNS name: ${problem}` };
  if (value.length > MAX_MARKER_VALUE) return { error: `the value is longer than ${MAX_MARKER_VALUE} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { error: "the value is not JSON" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return { error: "the value is not a JSON object" };
  const owner = (parsed as { owner?: unknown }).owner;
  if (owner !== undefined && typeof owner !== "string") return { error: "`owner` is not a string" };
  return { domain };
}
