// What a zone transfer holds: the zone's content as a set of RRsets at the names that answer them.
// Each stored record belongs to one name (records/type.ts ownerNameOf: its `group` when that is the
// key's name or an ancestor, otherwise its key's own name); the records of a name are turned into
// RRsets by the answer path's own functions (dns/records.ts dataAt), so a secondary answers at that
// name what fedns answers. The apex holds what the apex answers (NS, apex.dns.<zone>, fedns records
// owned by it); the SOA is added by the transfer itself.
//
// A full version is built by walking the index's names in slices that yield the event loop (at start
// and after a reload); changes the index takes meanwhile are then applied to it (service.ts), which
// makes it the content of one revision. After that, versions follow the store's changes (the keys and
// values the record source applied): only the names those keys belonged to or now belong to are made
// again, synchronously, in time proportional to the change.
import { performance } from "node:perf_hooks";
import { TYPE } from "../dns/constants.ts";
import { recordFits } from "../dns/encode.ts";
import type { ResourceRecord } from "../dns/message.ts";
import { AnswerReader, dataAt, nsRecords, RecordSet, recordIdentity, zoneSerial } from "../dns/records.ts";
import { type Zone, ZoneSet } from "../dns/zones.ts";
import { yieldToLoop } from "../obs/clock.ts";
import { SERVING_TURN_BUDGET_MS } from "../obs/loop-budget.ts";
import { type IndexChange, type IndexedRecord, RecordIndex } from "../records/index.ts";

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

export interface BuildOptions {
  /**
   * Walk the index in slices that yield the event loop (default true). The index may change meanwhile:
   * the result is then a mix of before and after, which only the changes applied since the walk began
   * (`applyChanges`) make the content of one revision again (service.ts does). False: one synchronous walk,
   * the content of the index at that moment (a fallback when those changes could not all be kept).
   */
  sliced?: boolean;
}

/**
 * A version of the zone from a walk of the index's names (`RecordIndex.names`) at and below the apex:
 * every record, once, at the name it belongs to (its owner), if that name lies in this zone and in no more
 * specific one of `zones`; INVALID records left out. Sliced (the default): it yields the event loop every few
 * milliseconds and holds no copy of the index, and a change to the index while it walks leaves that key in
 * its old or new form or missing (never twice): apply the changes since the start before serving it.
 */
export async function buildVersion(
  index: RecordIndex,
  zone: Zone,
  zones: ZoneSet,
  options: BuildOptions = {},
): Promise<ZoneVersion> {
  const serial = zoneSerial(index, zone.name);
  const lastChange = index.lastChange(zone.name);
  const revision = index.revision;
  const byName = new Map<string, IndexedRecord[]>();
  const ownerOf = new Map<string, string>();
  const slices = new Slicer(options.sliced ?? true);
  for (const entry of index.names(zone.name)) {
    for (const record of entry.records) {
      if (record.type === "INVALID") continue;
      // names() lists a fedns record at its owner name, another writer's at its key (its owner may be higher).
      const owner = record.fedns ? entry.name : record.owner;
      if (zones.find(owner)?.name !== zone.name) continue;
      const key = record.key;
      const seen = ownerOf.get(key);
      // A key seen twice: the index changed under the walk; keep the later copy (the change is replayed anyway).
      if (seen !== undefined && seen !== zone.name) dropKey(byName, seen, key);
      ownerOf.set(key, owner);
      if (owner === zone.name) continue;
      const list = byName.get(owner);
      if (list === undefined) byName.set(owner, [record]);
      else list.push(record);
    }
    await slices.tick();
  }
  const names = new Map<string, NameContent>([[zone.name, apexContent(index, zone, zones)]]);
  const reader = isolatedReader(index);
  let size = names.get(zone.name)?.records.length ?? 0;
  for (const [name, stored] of byName) {
    // Key order, as the answer path reads a name's records (a name gathers keys from several places of the walk).
    if (stored.length > 1) sortByKey(stored);
    const records = nameRecords(reader, name, stored);
    if (records.length > 0) {
      names.set(name, { stored, records });
      size += records.length;
    }
    await slices.tick();
  }
  return { zone, serial, lastChange, index, revision, names, ownerOf, size, holds: 0 };
}

function dropKey(byName: Map<string, IndexedRecord[]>, name: string, key: string): void {
  const list = byName.get(name);
  if (list === undefined) return;
  const kept = list.filter((record) => record.key !== key);
  if (kept.length === 0) byName.delete(name);
  else byName.set(name, kept);
}

/** Sorts records by key, each key built once. */
function sortByKey(records: IndexedRecord[]): void {
  const keyed = records.map((record) => ({ key: record.key, record }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 0; i < keyed.length; i++) records[i] = keyed[i]!.record;
}

/** Yields the event loop once a slice has run SERVING_TURN_BUDGET_MS (looking at the clock every SLICE_NAMES steps). */
class Slicer {
  private readonly enabled: boolean;
  private started = performance.now();
  private steps = 0;

  constructor(enabled = true) {
    this.enabled = enabled;
  }

  async tick(): Promise<void> {
    if (!this.enabled || ++this.steps % SLICE_NAMES !== 0 || performance.now() - this.started < SERVING_TURN_BUDGET_MS)
      return;
    await yieldToLoop();
    this.started = performance.now();
  }
}

/**
 * A copy of a version that full transfers still read (`holds` > 0), made in slices that yield: the same
 * content and serial, its own maps (so applyChanges can change them in place). The version itself is not
 * changed while held, so the copy is exact however long it takes.
 */
export async function unsharedCopy(version: ZoneVersion): Promise<ZoneVersion> {
  const slices = new Slicer();
  const names = new Map<string, NameContent>();
  for (const [name, content] of version.names) {
    names.set(name, content);
    await slices.tick();
  }
  const ownerOf = new Map<string, string>();
  for (const [key, owner] of version.ownerOf) {
    ownerOf.set(key, owner);
    await slices.tick();
  }
  return { ...version, names, ownerOf, holds: 0 };
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
    // The key's last change decides (a put then a delete in one batch leaves it gone).
    keys.set(key, record);
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
  for (const [name, after] of to.names) {
    if (!from.names.has(name)) compareInto(diff, undefined, after);
    await slices.tick();
  }
  return diff;
}
