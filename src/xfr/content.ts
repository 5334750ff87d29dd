// What a zone transfer holds: the zone's content as a set of RRsets at the names that answer them.
// Each stored record belongs to one name (records/type.ts ownerNameOf: its `group` when that is the
// key's name or an ancestor, otherwise its key's own name); the records of a name are turned into
// RRsets by the answer path's own functions (dns/records.ts dataAt), so a secondary answers at that
// name what fedns answers. The apex holds what the apex answers (NS, apex.dns.<zone>, fedns records
// owned by it); the SOA is added by the transfer itself.
//
// A full version is built from a snapshot of the index's records (immutable objects, taken in one
// go) in slices that yield the event loop: at start and after a reload. After that, versions follow
// the store's changes (the keys and values the record source applied): only the names those keys
// belonged to or now belong to are made again, synchronously, in time proportional to the change.
import { performance } from "node:perf_hooks";
import { TYPE } from "../dns/constants.ts";
import { recordFits } from "../dns/encode.ts";
import type { ResourceRecord } from "../dns/message.ts";
import { AnswerReader, dataAt, nsRecords, RecordSet, recordIdentity, zoneSerial } from "../dns/records.ts";
import { type Zone, ZoneSet } from "../dns/zones.ts";
import { yieldToLoop } from "../obs/clock.ts";
import { type IndexChange, type IndexedRecord, RecordIndex } from "../records/index.ts";

/** Run for this long at most, then let answers and timers run. */
const SLICE_MS = 8;
/** Names handled between two looks at the clock. */
const SLICE_NAMES = 64;
/** Types a name's records can make, in the order they are listed (CNAME only where nothing else is). */
const CONTENT_TYPES = [TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.PTR, TYPE.SRV, TYPE.MX];

export interface NameContent {
  /** The stored records it was made from, in key order. */
  readonly stored: readonly IndexedRecord[];
  readonly records: readonly ResourceRecord[];
}

export interface ZoneVersion {
  readonly zone: Zone;
  /** The SOA serial of this content (zoneSerial at the snapshot). */
  readonly serial: number;
  /** index.lastChange(zone) then: the records' part of the serial (serial markers may move it alone). */
  readonly lastChange: number;
  /** The index the snapshot was taken from, and its revision then. */
  readonly index: RecordIndex;
  readonly revision: number;
  /**
   * Names in transfer order (the apex first), each with its RRsets. Shared with the next version
   * (applyChanges changes it in place) unless a full transfer holds this one (`holds` > 0).
   */
  readonly names: Map<string, NameContent>;
  /** The name each stored record of the zone belongs to, by key (shared like `names`). */
  readonly ownerOf: Map<string, string>;
  /** Full transfers reading `names`: while any does, the next version copies instead of sharing. */
  holds: number;
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
  return { stored, records: set.records.filter(transferable) };
}

/**
 * A version of the zone from the index as it is now, from a snapshot of its records. Yields the
 * event loop every few milliseconds; the content is that of the snapshot.
 */
export async function buildVersion(index: RecordIndex, zone: Zone, zones: ZoneSet): Promise<ZoneVersion> {
  const serial = zoneSerial(index, zone.name);
  const lastChange = index.lastChange(zone.name);
  const revision = index.revision;
  const snapshot = index.all();
  const byName = new Map<string, IndexedRecord[]>();
  const ownerOf = new Map<string, string>();
  const slices = new Slicer();
  for (const record of snapshot) {
    if (record.type !== "INVALID" && zones.find(record.owner)?.name === zone.name) {
      ownerOf.set(record.key, record.owner);
      if (record.owner !== zone.name) {
        const list = byName.get(record.owner);
        if (list === undefined) byName.set(record.owner, [record]);
        else list.push(record);
      }
    }
    await slices.tick();
  }
  const names = new Map<string, NameContent>([[zone.name, apexContent(index, zone, zones)]]);
  const reader = isolatedReader(index);
  let size = names.get(zone.name)?.records.length ?? 0;
  for (const [name, stored] of byName) {
    const records = nameRecords(reader, name, stored);
    if (records.length > 0) {
      names.set(name, { stored, records });
      size += records.length;
    }
    await slices.tick();
  }
  return { zone, serial, lastChange, index, revision, names, ownerOf, size, holds: 0 };
}

/** Yields the event loop once a slice has run SLICE_MS (looking at the clock every SLICE_NAMES steps). */
class Slicer {
  private started = performance.now();
  private steps = 0;

  async tick(): Promise<void> {
    if (++this.steps % SLICE_NAMES !== 0 || performance.now() - this.started < SLICE_MS) return;
    await yieldToLoop();
    this.started = performance.now();
  }
}

/** One change the record source applied: a key put (with its value) or deleted. */
export type StoreChange = IndexChange;

/**
 * The next version after `changes` (applied to `index` since `previous` was made), and what changed:
 * the names the changed keys belonged to or belong to now are made again, the rest is shared.
 * Synchronous, in time proportional to the changes and the names they touch (plus a copy of the
 * zone's maps when a full transfer is still reading `previous`; otherwise `previous` is used up).
 */
export function applyChanges(
  previous: ZoneVersion,
  changes: Iterable<StoreChange>,
  index: RecordIndex,
  zones: ZoneSet,
): { version: ZoneVersion; diff: Diff } {
  const zone = previous.zone;
  const shared = previous.holds === 0;
  const ownerOf = shared ? previous.ownerOf : new Map(previous.ownerOf);
  /** Per touched name: the keys changed there, with their new record (undefined: gone from the name). */
  const touched = new Map<string, Map<string, IndexedRecord | undefined>>();
  const touch = (name: string, key: string, record: IndexedRecord | undefined): void => {
    let keys = touched.get(name);
    if (keys === undefined) {
      keys = new Map();
      touched.set(name, keys);
    }
    if (record !== undefined || !keys.has(key)) keys.set(key, record);
  };
  const decoder = new RecordDecoder(index);
  for (const change of changes) {
    const old = ownerOf.get(change.key);
    if (old !== undefined) {
      touch(old, change.key, undefined);
      ownerOf.delete(change.key);
    }
    if (change.type !== "put") continue;
    const record = decoder.decode(change.key, change.value, change.revision);
    if (record === undefined || record.type === "INVALID" || zones.find(record.owner)?.name !== zone.name) continue;
    ownerOf.set(change.key, record.owner);
    touch(record.owner, change.key, record);
  }
  const names = shared ? previous.names : new Map(previous.names);
  const reader = isolatedReader(index);
  const diff: Diff = { deleted: [], added: [] };
  let size = previous.size;
  const replace = (name: string, next: NameContent | undefined): void => {
    const before = names.get(name);
    if (before === next) return;
    compareInto(diff, before, next);
    size += (next?.records.length ?? 0) - (before?.records.length ?? 0);
    if (next === undefined) names.delete(name);
    else names.set(name, next);
  };
  replace(zone.name, apexContent(index, zone, zones));
  for (const [name, keys] of touched) {
    if (name === zone.name) continue;
    const stored = (names.get(name)?.stored ?? []).filter((record) => !keys.has(record.key));
    for (const record of keys.values()) if (record !== undefined) stored.push(record);
    stored.sort(byKey);
    const records = nameRecords(reader, name, stored);
    replace(name, records.length === 0 ? undefined : { stored, records });
  }
  const version: ZoneVersion = {
    zone,
    serial: zoneSerial(index, zone.name),
    lastChange: index.lastChange(zone.name),
    index,
    revision: index.revision,
    names,
    ownerOf,
    size,
    holds: 0,
  };
  return { version, diff };
}

function byKey(a: IndexedRecord, b: IndexedRecord): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Turns a changed key's value into the record the index made of it, through a one-record index with
 * the same settings (the index's own parsing, no second copy of its rules). Undefined: a bad value.
 */
class RecordDecoder {
  private readonly scratch: RecordIndex;

  constructor(index: RecordIndex) {
    this.scratch = new RecordIndex({ prefix: index.prefix, defaultTtl: index.defaultTtl });
  }

  decode(key: string, value: string, revision: number): IndexedRecord | undefined {
    this.scratch.apply([{ type: "put", key, value, revision }]);
    const record = this.scratch.all()[0];
    this.scratch.apply([{ type: "delete", key, revision }]);
    return record;
  }
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

function compareInto(diff: Diff, before: NameContent | undefined, after: NameContent | undefined): void {
  if (before === after) return;
  const old = before?.records ?? [];
  const fresh = after?.records ?? [];
  const oldIds = new Set(old.map(diffIdentity));
  const freshIds = new Set(fresh.map(diffIdentity));
  for (const record of old) if (!freshIds.has(diffIdentity(record))) diff.deleted.push(record);
  for (const record of fresh) if (!oldIds.has(diffIdentity(record))) diff.added.push(record);
}

/** What changed from one version to the next (after a full rebuild), name by name, in yielding slices. */
export async function diffVersions(from: ZoneVersion, to: ZoneVersion): Promise<Diff> {
  const diff: Diff = { deleted: [], added: [] };
  const slices = new Slicer();
  for (const [name, before] of from.names) {
    compareInto(diff, before, to.names.get(name));
    await slices.tick();
  }
  for (const [name, after] of to.names) if (!from.names.has(name)) compareInto(diff, undefined, after);
  return diff;
}
