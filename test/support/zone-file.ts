// A zone file (RFC 1035 master format) holding the same records as a set of skydns keys, so a
// zone-file server (Knot) can serve the data fedns serves from etcd. Each key becomes one RR at the
// name the record answers for (records/type.ts: ownerNameOf, recordType); SRV weights are written as
// CoreDNS serves them (percent of their priority's total at that name); `ns.dns.<zone>` keys become
// the apex NS with their address at the key's name, as CoreDNS reads them.
import { nameOfKey } from "../../src/records/name.ts";
import { decodeService, type SkydnsService } from "../../src/records/service.ts";
import { ownerNameOf, recordType } from "../../src/records/type.ts";

export interface ZoneFileOptions {
  zone: string;
  prefix?: string;
  /** TTL of records without one (fedns's default, as CoreDNS). */
  defaultTtl?: number;
  soa?: { mname: string; rname: string; refresh: number; retry: number; expire: number; minimum: number };
}

interface Entry {
  owner: string;
  type: string;
  ttl: number;
  service: SkydnsService;
  keyName: string;
}

export function zoneFileOf(keys: ReadonlyMap<string, string>, options: ZoneFileOptions): string {
  const zone = options.zone;
  const defaultTtl = options.defaultTtl ?? 300;
  const soa = options.soa ?? {
    mname: `ns.dns.${zone}`,
    rname: `hostmaster.${zone}`,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: 30,
  };
  const lines = [
    `$ORIGIN ${zone}.`,
    `@ ${soa.minimum} IN SOA ${soa.mname}. ${soa.rname}. 1 ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum}`,
  ];
  const entries: Entry[] = [];
  for (const [key, raw] of keys) {
    const keyName = nameOfKey(options.prefix ?? "/skydns", key);
    const decoded = decodeService(raw);
    if (keyName === undefined || !decoded.ok) throw new Error(`not a skydns record: ${key} ${raw}`);
    const service = decoded.service;
    const ttl = service.ttl ?? defaultTtl;
    const type = recordType({ name: keyName, service });
    if (keyName.endsWith(`.ns.dns.${zone}`) && (type === "A" || type === "AAAA")) {
      lines.push(`@ ${ttl} IN NS ${keyName}.`, `${keyName}. ${ttl} IN ${type} ${service.host}`);
      continue;
    }
    entries.push({ owner: ownerNameOf({ name: keyName, service }), type, ttl, service, keyName });
  }
  for (const entry of entries) lines.push(rrLine(entry, entries));
  return `${lines.join("\n")}\n`;
}

function rrLine(entry: Entry, all: readonly Entry[]): string {
  const { owner, type, ttl, service } = entry;
  const head = `${owner}. ${ttl} IN ${type}`;
  switch (type) {
    case "A":
    case "AAAA":
      return `${head} ${service.host}`;
    case "CNAME":
    case "PTR":
      return `${head} ${service.host}.`;
    case "TXT":
      return `${head} ${JSON.stringify(service.text ?? "")}`;
    case "MX":
      return `${head} ${service.priority ?? 10} ${service.host}.`;
    case "SRV": {
      const priority = service.priority ?? 10;
      const total = all
        .filter((other) => other.owner === owner && other.type === "SRV" && (other.service.priority ?? 10) === priority)
        .reduce((sum, other) => sum + (other.service.weight || 100), 0);
      const weight = Math.max(1, Math.floor((100 / total) * (service.weight || 100)));
      return `${head} ${priority} ${weight} ${service.port} ${service.host}.`;
    }
    default:
      throw new Error(`no zone-file form for ${type} at ${entry.keyName}`);
  }
}
