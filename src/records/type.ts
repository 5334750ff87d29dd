// What a stored record is: the one definition of its DNS name and type (CoreDNS msg/type.go plus
// fedns's rules), used by the answer path, zone transfers, `fedns records` and `fedns check`.
import { normalizeName } from "./name.ts";
import type { HostType, SkydnsService } from "./service.ts";
import { hostType } from "./service.ts";

export type RecordType = "A" | "AAAA" | "CNAME" | "TXT" | "SRV" | "MX" | "PTR" | "INVALID";

/** Values written by a fedns controller carry `owner: "fedns/<federation>"`. */
export const FEDNS_OWNER_PREFIX = "fedns/";

/** What ownerNameOf() and recordType() read of a record: its key's DNS name and its value. */
export interface RecordShape {
  /** The key's DNS name, leaf label included. */
  readonly name: string;
  readonly service: SkydnsService;
}

export function isFednsOwned(service: SkydnsService): boolean {
  return service.owner?.startsWith(FEDNS_OWNER_PREFIX) === true;
}

/**
 * The name a record answers for: its `group` when the group is the key's name or an ancestor of it
 * (fedns writes `group` = the record's own name, the key one label below), else the key's own name.
 */
export function ownerNameOf(record: RecordShape): string {
  const group = record.service.group;
  if (group === undefined || group === "") return record.name;
  const normal = normalizeName(group);
  if (normal === record.name || normal === "" || record.name.endsWith(`.${normal}`)) return normal;
  return record.name;
}

/**
 * CoreDNS Service.HostType: an IP gives A/AAAA; otherwise `text` makes it TXT, else the host is a CNAME target.
 * `resolved`: hostType(service.host) when the caller has it already.
 */
export function hostKind(service: SkydnsService, resolved?: HostType): "A" | "AAAA" | "CNAME" | "TXT" | "INVALID" {
  if (service.host === "") return service.text !== undefined && service.text !== "" ? "TXT" : "INVALID";
  const host = resolved ?? hostType(service.host);
  if (host.kind === "A" || host.kind === "AAAA" || host.kind === "invalid") {
    return host.kind === "invalid" ? "INVALID" : host.kind;
  }
  return service.text !== undefined && service.text !== "" ? "TXT" : "CNAME";
}

const SRV_NAME = /^_[^.]+\._(tcp|udp|sctp)(\.|$)/;
const REVERSE_ZONES = ["in-addr.arpa", "ip6.arpa"];

/** `_<service>._<proto>.…`: an SRV owner name (RFC 2782). */
export function isSrvName(name: string): boolean {
  return SRV_NAME.test(name);
}

/** Names under in-addr.arpa or ip6.arpa, where a name host is a PTR target (CoreDNS Reverse). */
export function isReverseName(name: string): boolean {
  return REVERSE_ZONES.some((zone) => name === zone || name.endsWith(`.${zone}`));
}

/**
 * The one type a record is listed as, and for fedns's own records the only type it answers:
 * MX when `mail` is set; PTR for a name host under a reverse zone; SRV for a record with a port at
 * an SRV name; otherwise CoreDNS's host type (A, AAAA, TXT when `text` is set, else CNAME).
 */
export function recordType(record: RecordShape, resolved?: { host?: HostType; owner?: string }): RecordType {
  const kind = hostKind(record.service, resolved?.host);
  if (kind === "INVALID") return kind;
  if (record.service.mail === true && kind !== "TXT") return "MX";
  const owner = resolved?.owner ?? ownerNameOf(record);
  if (kind === "CNAME" && isReverseName(owner)) return "PTR";
  if (kind !== "TXT" && (record.service.port ?? 0) > 0 && isSrvName(owner)) return "SRV";
  return kind;
}
