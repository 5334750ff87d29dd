// Record sets for one name and type, read from the index. fedns's own records answer exactly as
// their recordType() at their owner name; other writers' records keep the CoreDNS etcd plugin's
// reading (plugin/backend_lookup.go): type from `host`, SRV weights as percentages per priority,
// MX from `mail`, TXT from `text`, PTR from a name host, NS from ns.dns.<zone>, apex from apex.dns.<zone>.
// CNAMEs follow RFC 1034 §3.6.2 for every type. All reads of one answer share one LookupBudget.
import { LookupBudget } from "../records/budget.ts";
import type { IndexedRecord, NameRecords, RecordIndex } from "../records/index.ts";
import { normalizeName } from "../records/name.ts";
import { isReverseName } from "../records/type.ts";
import { TYPE } from "./constants.ts";
import { dependencyOf } from "./freshness.ts";
import type { Rdata, ResourceRecord } from "./message.ts";
import type { SubtreeMemo } from "./subtree-memo.ts";
import type { Zone, ZoneSet } from "./zones.ts";

/** CNAMEs followed in one answer, at most. */
export const MAX_CHAIN = 10;
const TXT_STRING_MAX = 255;
/** What aliasOf() may read of a name: enough for any real CNAME, far too little to walk a subtree. */
const PROBE_RECORDS = 16;
const PROBE_VISITS = 64;
/** Question types answered from a name's records; for any other only its existence and CNAME matter. */
const DATA_TYPES = new Set<number>([TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.SRV, TYPE.MX, TYPE.CNAME]);

/** Whether answering qtype at the name needs the name's records (else only its existence and CNAME). */
function needsRecords(name: string, qtype: number, apex: boolean): boolean {
  if (DATA_TYPES.has(qtype)) return true;
  if (qtype === TYPE.PTR) return isReverseName(name);
  return apex && (qtype === TYPE.SOA || qtype === TYPE.NS);
}

export interface Lookup {
  index: RecordIndex;
  zones: ZoneSet;
  /** Expand `*`/`any` labels in questions (CoreDNS). Default true. */
  queryWildcards?: boolean;
  /** Subtree collections kept across answers (one memo per wildcard setting); absent: every answer walks. */
  memo?: SubtreeMemo;
}

/**
 * The reads of one answer: every name is read from the index once (memoized), all under one budget,
 * so a CNAME chain or a thousand SRV records sharing a target cost one lookup per distinct name.
 * Every name read is recorded in `dependencies` (its wildcard root for a wildcard name): the answer
 * stays valid while nothing changes at or below them (freshness.ts).
 */
export class AnswerReader {
  readonly lookup: Lookup;
  readonly budget: LookupBudget;
  /** The names this answer was computed from (each covering its subtree). */
  readonly dependencies: Set<string>;
  private readonly seen = new Map<string, NameRecords | null>();
  private readonly addresses = new Map<string, ResourceRecord[]>();

  constructor(lookup: Lookup, budget: LookupBudget = new LookupBudget(), dependencies = new Set<string>()) {
    this.lookup = lookup;
    this.budget = budget;
    this.dependencies = dependencies;
  }

  /** Records that the answer depends on what lies at or below `name`. */
  dependOn(name: string): void {
    this.dependencies.add(dependencyOf(name, this.wildcards));
  }

  private get wildcards(): boolean {
    return this.lookup.queryWildcards ?? true;
  }

  get zones(): ZoneSet {
    return this.lookup.zones;
  }

  /** True once the budget was exhausted: the answer is incomplete. */
  get truncated(): boolean {
    return this.budget.exhausted;
  }

  /** Stored records answering for a name; the apex reads apex.dns.<zone> and always exists. Undefined = NXDOMAIN. */
  recordsAt(name: string): readonly IndexedRecord[] | undefined {
    const known = this.seen.get(name);
    if (known !== undefined) return known === null ? undefined : known.records;
    this.dependOn(name);
    const found = this.read(name);
    this.seen.set(name, found ?? null);
    return found?.records;
  }

  /**
   * The CNAME of a name for a question that needs nothing else of it (unknown types, SOA/NS below the
   * apex): read with a small budget of its own, so an empty non-terminal over a big subtree costs little.
   * A name with more records than that holds data, so it is no alias. Undefined: the name does not exist.
   */
  aliasOf(name: string): { exists: boolean; cname: { target: string; ttl: number } | undefined } {
    const known = this.seen.get(name);
    if (known !== undefined) {
      return { exists: known !== null, cname: known === null ? undefined : cnameAt(name, known.records) };
    }
    const zone = this.zones.find(name);
    if (zone !== undefined && zone.name === name) return { exists: true, cname: undefined };
    this.dependOn(name);
    const probe = new LookupBudget({ maxVisits: PROBE_VISITS + 2 * name.length, maxRecords: PROBE_RECORDS });
    const found = this.lookup.index.at(name, { budget: probe, wildcards: this.wildcards });
    this.budget.visits += probe.visits;
    if (found === undefined) return { exists: false, cname: undefined };
    if (!found.truncated) this.seen.set(name, found);
    return { exists: true, cname: found.truncated ? undefined : cnameAt(name, found.records) };
  }

  /** Whether the name exists (recordsAt would not be undefined), in time proportional to its depth. */
  exists(name: string): boolean {
    const known = this.seen.get(name);
    if (known !== undefined) return known !== null;
    const zone = this.zones.find(name);
    if (zone !== undefined && zone.name === name) return true;
    this.dependOn(name);
    return this.lookup.index.exists(name, this.options());
  }

  /** A and AAAA records of an SRV/MX/NS target inside our zones, resolved once per answer. */
  addressesOf(target: string): ResourceRecord[] {
    const known = this.addresses.get(target);
    if (known !== undefined) return known;
    const found: ResourceRecord[] = [];
    if (this.zones.find(target) !== undefined) {
      for (const qtype of [TYPE.A, TYPE.AAAA]) {
        for (const record of resolve(this, target, qtype).answer) {
          if (record.data.type === TYPE.A || record.data.type === TYPE.AAAA) found.push(record);
        }
      }
    }
    this.addresses.set(target, found);
    return found;
  }

  private read(name: string): NameRecords | undefined {
    const zone = this.zones.find(name);
    const index = this.lookup.index;
    if (zone !== undefined && zone.name === name) {
      // The apex answers apex.dns.<zone> (CoreDNS checkForApex) and fedns records owned by it, never the
      // zone's whole subtree.
      const apex = index.at(`apex.dns.${name}`, this.options());
      return { records: [...(apex?.records ?? []), ...index.ownedBy(name)], truncated: apex?.truncated ?? false };
    }
    const memo = this.lookup.memo;
    if (memo === undefined) return index.at(name, this.options());
    const known = memo.get(index, name, this.budget);
    if (known !== undefined) return known ?? undefined;
    const budget = this.budget;
    const visits = budget.visits;
    const records = budget.records;
    const fresh = visits === 0 && records === 0 && !budget.exhausted;
    const found = index.at(name, this.options());
    const cost = { visits: budget.visits - visits, records: budget.records - records, fresh };
    memo.offer(index, name, dependencyOf(name, this.wildcards), found, cost);
    return found;
  }

  private options(): { budget: LookupBudget; wildcards: boolean } {
    return { budget: this.budget, wildcards: this.wildcards };
  }
}

/**
 * The CNAME a name holds, if any: from a record of type CNAME that belongs to the name (a fedns record
 * owned by it; another writer's record whose `group` is the name or unset), not pointing at the name
 * itself, and only when no other data answers at the name (a CNAME cannot stand beside other data,
 * RFC 1034 §3.6.2). At an empty non-terminal whose children's groups disagree, a child's CNAME is never taken.
 */
export function cnameAt(name: string, stored: readonly IndexedRecord[]): { target: string; ttl: number } | undefined {
  let found: { target: string; ttl: number } | undefined;
  for (const record of stored) {
    if (record.type === "INVALID") continue;
    if (record.type !== "CNAME") return undefined;
    const target = record.target;
    if (found !== undefined || target === undefined || target === name) continue;
    const group = record.group;
    if (!record.fedns && group !== undefined && group !== "" && normalizeName(group) !== name) continue;
    found = { target, ttl: record.ttl };
  }
  return found;
}

export type ChainEnd = "answer" | "nodata" | "nxdomain" | "external" | "stopped";

export interface Resolution {
  answer: ResourceRecord[];
  additional: ResourceRecord[];
  end: ChainEnd;
  /** The name the chain ended at (the query name when no CNAME was followed). */
  lastName: string;
}

/**
 * The answer for (name, qtype): the name's own data of that type, else its CNAME followed inside our
 * zones (any qtype but CNAME, loop and length guarded), the rcode belonging to the last name (RFC 6604).
 */
export function resolve(reader: AnswerReader, name: string, qtype: number): Resolution {
  const answer: ResourceRecord[] = [];
  const additional: ResourceRecord[] = [];
  const visited = new Set<string>([name]);
  let current = name;
  for (let hops = 0; ; hops++) {
    let cname: { target: string; ttl: number } | undefined;
    const zone = reader.zones.find(current);
    const apex = zone?.name === current;
    if (needsRecords(current, qtype, apex)) {
      const stored = reader.recordsAt(current);
      if (stored === undefined) return { answer, additional, end: "nxdomain", lastName: current };
      const direct = dataAt(reader, current, stored, qtype);
      if (direct.answer.length > 0 || qtype === TYPE.CNAME) {
        answer.push(...direct.answer);
        additional.push(...direct.additional);
        return { answer, additional, end: direct.answer.length > 0 ? "answer" : "nodata", lastName: current };
      }
      cname = apex ? undefined : cnameAt(current, stored);
    } else {
      const alias = reader.aliasOf(current);
      if (!alias.exists) return { answer, additional, end: "nxdomain", lastName: current };
      cname = alias.cname;
    }
    if (cname === undefined) return { answer, additional, end: "nodata", lastName: current };
    const next = cname.target;
    answer.push({ name: current, ttl: cname.ttl, data: { type: TYPE.CNAME, target: next } });
    if (reader.zones.find(next) === undefined) return { answer, additional, end: "external", lastName: next };
    if (visited.has(next) || hops + 1 >= MAX_CHAIN) return { answer, additional, end: "stopped", lastName: next };
    visited.add(next);
    current = next;
  }
}

export interface WithAdditional {
  answer: ResourceRecord[];
  additional: ResourceRecord[];
}

/** The records of one type a name's own data makes (no CNAME following). */
export function dataAt(
  reader: AnswerReader,
  name: string,
  stored: readonly IndexedRecord[],
  qtype: number,
): WithAdditional {
  const zone = reader.zones.find(name);
  if (zone !== undefined && zone.name === name) {
    if (qtype === TYPE.SOA) return { answer: [soaRecord(reader.lookup, zone)], additional: [] };
    if (qtype === TYPE.NS) return nsRecords(reader, zone);
  }
  switch (qtype) {
    case TYPE.A:
    case TYPE.AAAA:
      return { answer: addressRecords(name, stored, qtype), additional: [] };
    case TYPE.TXT:
      return { answer: textRecords(name, stored), additional: [] };
    case TYPE.PTR:
      return { answer: pointerRecords(name, stored), additional: [] };
    case TYPE.SRV:
      return srvRecords(reader, name, stored);
    case TYPE.MX:
      return mxRecords(reader, name, stored);
    case TYPE.CNAME: {
      const cname = zone?.name === name ? undefined : cnameAt(name, stored);
      const answer: ResourceRecord[] =
        cname === undefined ? [] : [{ name, ttl: cname.ttl, data: { type: TYPE.CNAME, target: cname.target } }];
      return { answer, additional: [] };
    }
    default:
      return { answer: [], additional: [] };
  }
}

/** A or AAAA: fedns records of that type; other writers' records whose host is such an address. Each address once. */
function addressRecords(name: string, stored: readonly IndexedRecord[], qtype: number): ResourceRecord[] {
  const kind = qtype === TYPE.A ? "A" : "AAAA";
  const seen = new Set<string>();
  const found: ResourceRecord[] = [];
  for (const record of stored) {
    if (record.hostKind !== kind || (record.fedns && record.type !== kind)) continue;
    const address = record.address!;
    if (seen.has(address)) continue;
    seen.add(address);
    found.push({ name, ttl: record.ttl, data: addressData(kind, address) });
  }
  return found;
}

function textRecords(name: string, stored: readonly IndexedRecord[]): ResourceRecord[] {
  const seen = new Set<string>();
  const found: ResourceRecord[] = [];
  for (const record of stored) {
    if (record.type !== "TXT") continue;
    const text = record.text ?? "";
    if (seen.has(text)) continue;
    seen.add(text);
    found.push({ name, ttl: record.ttl, data: { type: TYPE.TXT, strings: splitText(text) } });
  }
  return found;
}

/** PTR from records with a name host under a reverse zone (CoreDNS Reverse), each target once. */
function pointerRecords(name: string, stored: readonly IndexedRecord[]): ResourceRecord[] {
  const seen = new Set<string>();
  const found: ResourceRecord[] = [];
  for (const record of stored) {
    const target = record.target;
    if (record.type !== "PTR" || target === undefined || seen.has(target)) continue;
    seen.add(target);
    found.push({ name, ttl: record.ttl, data: { type: TYPE.PTR, target } });
  }
  return found;
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

/**
 * Records that make SRV at a name: fedns records of type SRV; of other writers' records (CoreDNS),
 * those with an address host, and those with a name host and a port (a name host without a port is
 * an alias, answered as a CNAME). Port -1 is CoreDNS's "no port": counted in the weights, not served.
 */
function srvSources(stored: readonly IndexedRecord[]): IndexedRecord[] {
  return stored.filter((record) => {
    if (record.fedns) return record.type === "SRV";
    if (record.type === "TXT" || record.type === "INVALID") return false;
    if (record.hostKind === "A" || record.hostKind === "AAAA") return true;
    return record.hostKind === "CNAME" && (record.port ?? 0) !== 0;
  });
}

/** SRV at a name: weights as percentages of their priority's total (CoreDNS), targets with their addresses. */
function srvRecords(reader: AnswerReader, name: string, stored: readonly IndexedRecord[]): WithAdditional {
  const sources = srvSources(stored);
  const totals = new Map<number, number>();
  for (const record of sources) {
    const weight = record.weight || 100;
    totals.set(record.priority, (totals.get(record.priority) ?? 0) + weight);
  }
  const answer = new RecordSet();
  const additional = new RecordSet();
  for (const record of sources) {
    const port = record.port ?? 0;
    if (port === -1) continue;
    const share = 100 / (totals.get(record.priority) ?? 100);
    const weight = Math.min(0xffff, Math.max(1, Math.floor(share * (record.weight || 100))));
    const target = targetOf(record);
    if (target === undefined) continue;
    answer.add({ name, ttl: record.ttl, data: { type: TYPE.SRV, priority: record.priority, weight, port, target } });
    glue(reader, record, target, additional);
  }
  return { answer: answer.records, additional: additional.records };
}

/** MX at a name from records with `mail: true`; preference is the record's priority. */
function mxRecords(reader: AnswerReader, name: string, stored: readonly IndexedRecord[]): WithAdditional {
  const answer = new RecordSet();
  const additional = new RecordSet();
  for (const record of stored) {
    if (record.type !== "MX") continue;
    const exchange = targetOf(record);
    if (exchange === undefined) continue;
    answer.add({ name, ttl: record.ttl, data: { type: TYPE.MX, preference: record.priority, exchange } });
    glue(reader, record, exchange, additional);
  }
  return { answer: answer.records, additional: additional.records };
}

/**
 * NS at a zone apex: ns.dns.<zone> records with an address host (CoreDNS: the target is the key's own
 * name, `targetstrip` applied, the address as glue), then configured ones.
 */
export function nsRecords(reader: AnswerReader, zone: Zone): WithAdditional {
  const answer = new RecordSet();
  const additional = new RecordSet();
  const source = `ns.dns.${zone.name}`;
  reader.dependOn(source);
  for (const record of reader.lookup.index.lookup(source, { budget: reader.budget }) ?? []) {
    const kind = record.hostKind;
    if (kind !== "A" && kind !== "AAAA") continue;
    const target = stripLabels(record.name, record.targetstrip ?? 0);
    answer.add({ name: zone.name, ttl: record.ttl, data: { type: TYPE.NS, target } });
    additional.add({ name: target, ttl: record.ttl, data: addressData(kind, record.address!) });
  }
  for (const server of zone.nameservers) {
    const ttl = reader.lookup.index.defaultTtl;
    answer.add({ name: zone.name, ttl, data: { type: TYPE.NS, target: server.name } });
    if (server.address !== undefined) {
      const kind = server.address.includes(":") ? "AAAA" : "A";
      additional.add({ name: server.name, ttl, data: addressData(kind, server.address) });
    }
  }
  return { answer: answer.records, additional: additional.records };
}

/**
 * The SOA of a zone. Its serial (zoneSerial) is not a dependency of the answer carrying it: a cached
 * reply gets the current serial written in when it is served (handler.ts), so a negative answer stays
 * cached while other names of the zone change.
 */
export function soaRecord(lookup: Lookup, zone: Zone): ResourceRecord {
  const serial = zoneSerial(lookup.index, zone.name);
  return { name: zone.name, ttl: zone.soa.minimum, data: { type: TYPE.SOA, serial, ...zone.soa } };
}

/**
 * A zone's serial, in 32 bits, never 0: the revision of its last change, or of the serial markers that
 * count for it when higher (a delete's revision, which an index loaded afresh cannot see otherwise;
 * federation/keys.ts SERIAL_MARKER_PREFIX, docs/zone-transfers.md).
 */
export function zoneSerial(index: RecordIndex, zone: string): number {
  return Math.max(index.lastChange(zone), index.serialMarks(zone)) % 2 ** 32 || 1;
}

/** CoreDNS: an IP host makes the key's own name the target; a name host is the target; `targetstrip` applied. */
function targetOf(record: IndexedRecord): string | undefined {
  const strip = record.targetstrip ?? 0;
  if (record.hostKind === "A" || record.hostKind === "AAAA") return stripLabels(record.name, strip);
  if (record.hostKind === "CNAME") return stripLabels(record.target!, strip);
  return undefined;
}

/** CoreDNS targetStrip: drop `count` leftmost labels, keeping the name when that would leave nothing. */
export function stripLabels(name: string, count: number): string {
  if (count <= 0) return name;
  const labels = name.split(".");
  return labels.length > count ? labels.slice(count).join(".") : name;
}

/** The additional records of an SRV/MX target: the record's own address, or the target's, resolved once. */
function glue(reader: AnswerReader, record: IndexedRecord, target: string, into: RecordSet): void {
  const kind = record.hostKind;
  if (kind === "A" || kind === "AAAA") {
    into.add({ name: target, ttl: record.ttl, data: addressData(kind, record.address!) });
    return;
  }
  if (into.hasName(target)) return;
  into.addAll(reader.addressesOf(target));
}

function addressData(kind: "A" | "AAAA", address: string): Rdata {
  return kind === "A" ? { type: TYPE.A, address } : { type: TYPE.AAAA, address };
}

/** A short string identifying a record's owner, type and data, for de-duplication. */
export function recordIdentity(record: ResourceRecord): string {
  const data = record.data;
  switch (data.type) {
    case TYPE.A:
    case TYPE.AAAA:
      return `${record.name} ${data.type} ${data.address}`;
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      return `${record.name} ${data.type} ${data.target}`;
    case TYPE.MX:
      return `${record.name} 15 ${data.preference} ${data.exchange}`;
    case TYPE.SRV:
      return `${record.name} 33 ${data.priority} ${data.weight} ${data.port} ${data.target}`;
    case TYPE.TXT:
      return `${record.name} 16 ${data.strings.map((part) => part.toString("hex")).join(" ")}`;
    case TYPE.HINFO:
      return `${record.name} 13 ${data.cpu} ${data.os}`;
    case TYPE.SOA:
      return `${record.name} 6`;
  }
}

/** Records in insertion order without duplicates (same owner, type and data). */
export class RecordSet {
  readonly records: ResourceRecord[] = [];
  private readonly seen = new Set<string>();
  private readonly names = new Set<string>();

  add(record: ResourceRecord): void {
    const key = recordIdentity(record);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.names.add(record.name);
    this.records.push(record);
  }

  addAll(records: readonly ResourceRecord[]): void {
    for (const record of records) this.add(record);
  }

  /** Whether a record owned by the name was added already. */
  hasName(name: string): boolean {
    return this.names.has(name);
  }
}
