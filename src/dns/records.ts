// Record sets for one name and type, read from the index with the CoreDNS etcd plugin's rules
// (plugin/backend_lookup.go): type from `host`, CNAME chasing inside our zones, SRV weights as
// percentages per priority, MX from `mail`, TXT from `text`, NS from ns.dns.<zone>, apex from apex.dns.<zone>.
import type { IndexedRecord, RecordIndex } from "../records/index.ts";
import { normalizeName } from "../records/name.ts";
import { TYPE } from "./constants.ts";
import type { Rdata, ResourceRecord } from "./message.ts";
import type { Zone, ZoneSet } from "./zones.ts";

/** CNAMEs followed in one answer, at most. */
export const MAX_CHAIN = 10;
const TXT_STRING_MAX = 255;

export interface Lookup {
  index: RecordIndex;
  zones: ZoneSet;
}

type Kind = "A" | "AAAA" | "CNAME" | "TXT" | "none";

/** CoreDNS Service.HostType: an IP gives A/AAAA; otherwise `text` makes it TXT, else the host is a CNAME target. */
export function kindOf(record: IndexedRecord): Kind {
  if (record.host.kind === "A" || record.host.kind === "AAAA") return record.host.kind;
  if (record.service.text !== undefined && record.service.text !== "") return "TXT";
  if (record.host.kind === "CNAME") return "CNAME";
  return "none";
}

/** Stored records answering for a name; the apex reads apex.dns.<zone> first and always exists. Undefined = NXDOMAIN. */
export function recordsAt(lookup: Lookup, name: string): readonly IndexedRecord[] | undefined {
  const zone = lookup.zones.find(name);
  if (zone !== undefined && zone.name === name) {
    return lookup.index.lookup(`apex.dns.${name}`) ?? lookup.index.lookup(name) ?? [];
  }
  return lookup.index.lookup(name);
}

/** Whether the name exists (recordsAt would not be undefined), in time proportional to its depth. */
export function nameExists(lookup: Lookup, name: string): boolean {
  const zone = lookup.zones.find(name);
  if (zone !== undefined && zone.name === name) return true;
  return lookup.index.exists(name);
}

/**
 * The CNAME a name holds, if any: from a record that belongs to the name (its `group` is the name,
 * or it has none, as in plain CoreDNS data), not pointing at the name itself, and only when no other
 * data answers at the name (a CNAME cannot stand beside other data, RFC 1034 §3.6.2). At an empty
 * non-terminal whose children's groups disagree, a child's CNAME is therefore never taken.
 */
export function cnameAt(name: string, stored: readonly IndexedRecord[]): { target: string; ttl: number } | undefined {
  let found: { target: string; ttl: number } | undefined;
  for (const record of stored) {
    const kind = kindOf(record);
    if (kind === "none") continue;
    if (kind !== "CNAME") return undefined;
    if (found !== undefined || record.host.kind !== "CNAME" || record.host.target === name) continue;
    const group = record.service.group;
    if (group !== undefined && group !== "" && normalizeName(group) !== name) continue;
    found = { target: record.host.target, ttl: record.ttl };
  }
  return found;
}

export type ChainEnd = "answer" | "nodata" | "nxdomain" | "external" | "stopped";

export interface Chain {
  records: ResourceRecord[];
  end: ChainEnd;
  /** The name the chain ended at (the query name when no CNAME was followed). */
  lastName: string;
}

/** Direct records of `qtype` (A, AAAA or TXT) at the name, following in-zone CNAMEs (loop and length guarded). */
export function resolveChain(lookup: Lookup, name: string, qtype: number): Chain {
  const records: ResourceRecord[] = [];
  const visited = new Set<string>([name]);
  let current = name;
  for (let hops = 0; ; hops++) {
    const stored = recordsAt(lookup, current);
    if (stored === undefined) return { records, end: "nxdomain", lastName: current };
    const cname = cnameAt(current, stored);
    if (cname === undefined) {
      let direct = false;
      const texts = new Set<string>();
      for (const record of stored) {
        const data = directData(record, kindOf(record), qtype, texts);
        if (data === undefined) continue;
        records.push({ name: current, ttl: record.ttl, data });
        direct = true;
      }
      return { records, end: direct ? "answer" : "nodata", lastName: current };
    }
    const next = cname.target;
    records.push({ name: current, ttl: cname.ttl, data: { type: TYPE.CNAME, target: next } });
    if (lookup.zones.find(next) === undefined) return { records, end: "external", lastName: next };
    if (visited.has(next) || hops + 1 >= MAX_CHAIN) return { records, end: "stopped", lastName: next };
    visited.add(next);
    current = next;
  }
}

function directData(record: IndexedRecord, kind: Kind, qtype: number, texts: Set<string>): Rdata | undefined {
  if (qtype === TYPE.A && record.host.kind === "A") return { type: TYPE.A, address: record.host.address };
  if (qtype === TYPE.AAAA && record.host.kind === "AAAA") return { type: TYPE.AAAA, address: record.host.address };
  if (qtype === TYPE.TXT && kind === "TXT") {
    const text = record.service.text ?? "";
    if (texts.has(text)) return undefined;
    texts.add(text);
    return { type: TYPE.TXT, strings: splitText(text) };
  }
  return undefined;
}

/** TXT character-strings hold at most 255 octets: longer text is split, as CoreDNS does. */
export function splitText(text: string): Buffer[] {
  const bytes = Buffer.from(text, "utf8");
  const strings: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += TXT_STRING_MAX) {
    strings.push(bytes.subarray(offset, offset + TXT_STRING_MAX));
  }
  return strings.length === 0 ? [Buffer.alloc(0)] : strings;
}

export interface WithAdditional {
  answer: ResourceRecord[];
  additional: ResourceRecord[];
}

/** SRV at a name: weights as percentages of their priority's total (CoreDNS), port -1 skipped, targets with addresses. */
export function srvRecords(lookup: Lookup, name: string): WithAdditional | undefined {
  const stored = recordsAt(lookup, name);
  if (stored === undefined) return undefined;
  const totals = new Map<number, number>();
  for (const record of stored) {
    const weight = record.service.weight || 100;
    totals.set(record.priority, (totals.get(record.priority) ?? 0) + weight);
  }
  const result: WithAdditional = { answer: [], additional: [] };
  const additional = new RecordSet();
  for (const record of stored) {
    const port = record.service.port ?? 0;
    if (port === -1) continue;
    const share = 100 / (totals.get(record.priority) ?? 100);
    const weight = Math.max(1, Math.floor(share * (record.service.weight || 100)));
    const target = targetOf(record);
    if (target === undefined) continue;
    result.answer.push({
      name,
      ttl: record.ttl,
      data: { type: TYPE.SRV, priority: record.priority, weight, port, target },
    });
    addressesOfTarget(lookup, record, target, additional);
  }
  result.additional = additional.records;
  return result;
}

/** MX at a name from records with `mail: true`; preference is the record's priority. */
export function mxRecords(lookup: Lookup, name: string): WithAdditional | undefined {
  const stored = recordsAt(lookup, name);
  if (stored === undefined) return undefined;
  const result: WithAdditional = { answer: [], additional: [] };
  const additional = new RecordSet();
  for (const record of stored) {
    if (record.service.mail !== true) continue;
    const exchange = targetOf(record);
    if (exchange === undefined) continue;
    result.answer.push({ name, ttl: record.ttl, data: { type: TYPE.MX, preference: record.priority, exchange } });
    addressesOfTarget(lookup, record, exchange, additional);
  }
  result.additional = additional.records;
  return result;
}

/** NS at a zone apex: ns.dns.<zone> records (target = the key's own name, address as glue), then configured ones. */
export function nsRecords(lookup: Lookup, zone: Zone): WithAdditional {
  const answer = new RecordSet();
  const additional = new RecordSet();
  for (const record of lookup.index.lookup(`ns.dns.${zone.name}`) ?? []) {
    if (record.host.kind !== "A" && record.host.kind !== "AAAA") continue;
    answer.add({ name: zone.name, ttl: record.ttl, data: { type: TYPE.NS, target: record.name } });
    additional.add({ name: record.name, ttl: record.ttl, data: addressData(record.host.kind, record.host.address) });
  }
  for (const server of zone.nameservers) {
    const ttl = lookup.index.defaultTtl;
    answer.add({ name: zone.name, ttl, data: { type: TYPE.NS, target: server.name } });
    if (server.address !== undefined) {
      const kind = server.address.includes(":") ? "AAAA" : "A";
      additional.add({ name: server.name, ttl, data: addressData(kind, server.address) });
    }
  }
  return { answer: answer.records, additional: additional.records };
}

export function soaRecord(lookup: Lookup, zone: Zone): ResourceRecord {
  const serial = lookup.index.lastChange(zone.name) % 2 ** 32 || 1;
  return { name: zone.name, ttl: zone.soa.minimum, data: { type: TYPE.SOA, serial, ...zone.soa } };
}

/** CoreDNS: an IP host makes the key's own name the target; a name host is the target (targetstrip applied). */
function targetOf(record: IndexedRecord): string | undefined {
  const kind = kindOf(record);
  if (kind === "A" || kind === "AAAA") return stripLabels(record.name, record.service.targetstrip ?? 0);
  if (kind === "CNAME" && record.host.kind === "CNAME")
    return stripLabels(record.host.target, record.service.targetstrip ?? 0);
  return undefined;
}

function stripLabels(name: string, count: number): string {
  if (count <= 0) return name;
  const labels = name.split(".");
  return labels.length > count ? labels.slice(count).join(".") : name;
}

function addressesOfTarget(lookup: Lookup, record: IndexedRecord, target: string, into: RecordSet): void {
  if (record.host.kind === "A" || record.host.kind === "AAAA") {
    into.add({ name: target, ttl: record.ttl, data: addressData(record.host.kind, record.host.address) });
    return;
  }
  if (lookup.zones.find(target) === undefined) return;
  for (const qtype of [TYPE.A, TYPE.AAAA]) {
    for (const found of resolveChain(lookup, target, qtype).records) into.add(found);
  }
}

function addressData(kind: "A" | "AAAA", address: string): Rdata {
  return kind === "A" ? { type: TYPE.A, address } : { type: TYPE.AAAA, address };
}

/** Records in insertion order without duplicates (same owner, type and data). */
export class RecordSet {
  readonly records: ResourceRecord[] = [];
  private readonly seen = new Set<string>();

  add(record: ResourceRecord): void {
    const key = `${record.name}|${JSON.stringify(record.data)}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.records.push(record);
  }

  addAll(records: readonly ResourceRecord[]): void {
    for (const record of records) this.add(record);
  }
}
