// What a zone transfer holds: the zone's content as a set of RRsets at the names that answer them.
// Each stored record belongs to one name (records/type.ts ownerNameOf: its `group` when that is the
// key's name or an ancestor, otherwise its key's own name); the records of a name are turned into
// RRsets by the answer path's own functions (dns/records.ts dataAt), so a secondary answers at that
// name what fedns answers. The apex holds what the apex answers (NS, apex.dns.<zone>, fedns records
// owned by it); the SOA is added by the transfer itself.
//
// A version is built from a snapshot of the index's records (immutable objects, taken in one go) in
// slices that yield the event loop, and incrementally: the RRsets of a name whose records are the
// same (key and revision) as in the previous version are reused, so after the first build a new
// version costs a walk over the records plus the names that changed.
import { performance } from "node:perf_hooks";
import { TYPE } from "../dns/constants.ts";
import { recordFits } from "../dns/encode.ts";
import type { ResourceRecord } from "../dns/message.ts";
import { AnswerReader, dataAt, nsRecords, RecordSet, recordIdentity, zoneSerial } from "../dns/records.ts";
import { type Zone, ZoneSet } from "../dns/zones.ts";
import { yieldToLoop } from "../obs/clock.ts";
import type { IndexedRecord, RecordIndex } from "../records/index.ts";

/** Run for this long at most, then let answers and timers run. */
const SLICE_MS = 8;
/** Names handled between two looks at the clock. */
const SLICE_NAMES = 64;
/** Types a name's records can make, in the order they are listed (CNAME only where nothing else is). */
const CONTENT_TYPES = [TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.PTR, TYPE.SRV, TYPE.MX];

export interface NameContent {
  /** The stored records it was made from, as `key@revision`: equal means the RRsets are equal. */
  readonly sources: string;
  readonly records: readonly ResourceRecord[];
}

export interface ZoneVersion {
  readonly zone: Zone;
  /** The SOA serial of this content (zoneSerial at the snapshot). */
  readonly serial: number;
  /** The index the snapshot was taken from, and its revision then. */
  readonly index: RecordIndex;
  readonly revision: number;
  /** Names in transfer order (the apex first), each with its RRsets. */
  readonly names: ReadonlyMap<string, NameContent>;
  /** Records in all names (the SOA not counted). */
  readonly size: number;
}

/**
 * The one place transfers read the index's records: every record whose owner name lies in `zone`
 * (and in no more specific zone of `zones`). A snapshot: the objects never change once indexed.
 */
export function zoneRecords(index: RecordIndex, zone: Zone, zones: ZoneSet): IndexedRecord[] {
  const found: IndexedRecord[] = [];
  for (const record of index.all()) {
    if (record.type === "INVALID") continue;
    if (zones.find(record.owner)?.name === zone.name) found.push(record);
  }
  return found;
}

/** An AnswerReader that sees none of our zones: dataAt() then makes a name's RRsets from its records alone. */
function isolatedReader(index: RecordIndex): AnswerReader {
  return new AnswerReader({ index, zones: NO_ZONES });
}
const NO_ZONES = new ZoneSet([]);

/**
 * The RRsets a name's own records make: every type they hold, a CNAME only when they hold nothing
 * else. Left out: the SRV with port 0 that CoreDNS's reading makes of every other writer's address
 * record (plugin/backend_lookup.go), which no zone would hold (docs/zone-transfers.md).
 */
export function nameRecords(reader: AnswerReader, name: string, stored: readonly IndexedRecord[]): ResourceRecord[] {
  const set = new RecordSet();
  for (const qtype of CONTENT_TYPES) set.addAll(dataAt(reader, name, stored, qtype).answer);
  if (set.records.length === 0) set.addAll(dataAt(reader, name, stored, TYPE.CNAME).answer);
  return set.records.filter(transferable);
}

function transferable(record: ResourceRecord): boolean {
  return recordFits(record) && !(record.data.type === TYPE.SRV && record.data.port === 0);
}

/** What the apex answers, read from the live index now (NS with ns.dns.<zone>, apex.dns.<zone>, owned records). */
function apexContent(index: RecordIndex, zone: Zone, zones: ZoneSet): NameContent {
  const reader = new AnswerReader({ index, zones });
  const set = new RecordSet();
  set.addAll(nsRecords(reader, zone).answer);
  const stored = reader.recordsAt(zone.name) ?? [];
  for (const qtype of CONTENT_TYPES) set.addAll(dataAt(reader, zone.name, stored, qtype).answer);
  const sources = [...stored, ...(index.lookup(`ns.dns.${zone.name}`) ?? [])].map(sourceOf).join(" ");
  return { sources, records: set.records.filter(transferable) };
}

function sourceOf(record: IndexedRecord): string {
  return `${record.key}@${record.modRevision}`;
}

/**
 * A new version of the zone from the index as it is now, reusing `previous` where a name's records
 * did not change. Yields the event loop every few milliseconds; the content is that of the snapshot.
 */
export async function buildVersion(
  index: RecordIndex,
  zone: Zone,
  zones: ZoneSet,
  previous: ZoneVersion | undefined,
): Promise<ZoneVersion> {
  const serial = zoneSerial(index, zone.name);
  const revision = index.revision;
  const byName = new Map<string, IndexedRecord[]>();
  for (const record of zoneRecords(index, zone, zones)) {
    if (record.owner === zone.name) continue;
    const list = byName.get(record.owner);
    if (list === undefined) byName.set(record.owner, [record]);
    else list.push(record);
  }
  const names = new Map<string, NameContent>([[zone.name, apexContent(index, zone, zones)]]);
  const reader = isolatedReader(index);
  let size = names.get(zone.name)?.records.length ?? 0;
  let sliceStarted = performance.now();
  let handled = 0;
  for (const [name, stored] of byName) {
    const sources = stored.map(sourceOf).join(" ");
    const before = previous?.names.get(name);
    const content =
      before !== undefined && before.sources === sources
        ? before
        : { sources, records: nameRecords(reader, name, stored) };
    if (content.records.length > 0) {
      names.set(name, content);
      size += content.records.length;
    }
    if (++handled % SLICE_NAMES === 0 && performance.now() - sliceStarted >= SLICE_MS) {
      await yieldToLoop();
      sliceStarted = performance.now();
    }
  }
  return { zone, serial, index, revision, names, size };
}

/** The records of a version in transfer order. */
export function* versionRecords(version: ZoneVersion): Generator<ResourceRecord> {
  for (const content of version.names.values()) yield* content.records;
}

/** A record's identity for diffs: owner, type, data and TTL (a TTL change is a change). */
export function diffIdentity(record: ResourceRecord): string {
  return `${record.ttl} ${recordIdentity(record)}`;
}

export interface Diff {
  deleted: ResourceRecord[];
  added: ResourceRecord[];
}

/** What changed from one version to the next, name by name (names with the same sources are skipped). */
export async function diffVersions(from: ZoneVersion, to: ZoneVersion): Promise<Diff> {
  const diff: Diff = { deleted: [], added: [] };
  let sliceStarted = performance.now();
  let handled = 0;
  const compare = (before: NameContent | undefined, after: NameContent | undefined): void => {
    if (before === after) return;
    const old = before?.records ?? [];
    const fresh = after?.records ?? [];
    const oldIds = new Set(old.map(diffIdentity));
    const freshIds = new Set(fresh.map(diffIdentity));
    for (const record of old) if (!freshIds.has(diffIdentity(record))) diff.deleted.push(record);
    for (const record of fresh) if (!oldIds.has(diffIdentity(record))) diff.added.push(record);
  };
  for (const [name, before] of from.names) {
    compare(before, to.names.get(name));
    if (++handled % SLICE_NAMES === 0 && performance.now() - sliceStarted >= SLICE_MS) {
      await yieldToLoop();
      sliceStarted = performance.now();
    }
  }
  for (const [name, after] of to.names) if (!from.names.has(name)) compare(undefined, after);
  return diff;
}
