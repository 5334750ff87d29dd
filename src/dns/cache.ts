// Encoded responses for repeated questions. Each entry remembers the names its answer was read from
// and the index revision it was computed at, and stays valid while nothing changed at or below those
// names (freshness.ts): an etcd change costs the answers it touched, not the whole cache. A swapped-in
// index (reload) drops everything. The cache is bounded both in entries and in bytes (TCP replies
// reach 64 KiB each). A full cache evicts by CLOCK (second chance): a hit only sets a flag (no LRU
// bookkeeping on the hot path); eviction walks entries oldest first, keeps a referenced one once more
// (clearing its flag) and drops the first that was not. A flood of distinct names costs misses and
// evicts the entries nobody asked for again, never memory, and never the answers in use.
import type { RecordIndex } from "../records/index.ts";
import { type Stamp, stampOf, stillFresh } from "./freshness.ts";
import { QNAME_OFFSET, skipName, skipRecord } from "./query.ts";

/** Where a cached reply holds a zone's SOA serial, rewritten when it is served (the serial is no dependency). */
export interface SerialSlot {
  offset: number;
  zone: string;
}

export interface CachedResponse {
  /** The encoded reply to the first asker; id, RD/CD bits and question case are patched per query. */
  bytes: Buffer;
  rcode: number;
  truncated: boolean;
  /** SOA serials in the reply (negative answers, SOA questions). */
  serials?: readonly SerialSlot[];
}

export const DEFAULT_CACHE_ENTRIES = 100_000;
/** 64 MiB: a thousand full-size TCP replies, or far more typical ones. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** What a lookup found: a reply still valid, none, or one that a change since made stale (now dropped). */
export type CacheLookup = CachedResponse | "miss" | "stale";

interface Entry {
  response: CachedResponse;
  stamp: Stamp;
  /** Asked for again since it was stored or last given its second chance (CLOCK). */
  referenced: boolean;
}

/**
 * Keyed by a variant number (what besides the question shapes the reply: size limit, EDNS, transport)
 * and the question as a flat string (lowercased wire name, type, class): one short string to hash per query.
 */
export class ResponseCache {
  private readonly variants = new Map<number, Map<string, Entry>>();
  private index: RecordIndex | undefined;
  private entries = 0;
  private storedBytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  /** At most `maxEntries` entries whose replies total at most `maxBytes` bytes. */
  constructor(maxEntries = DEFAULT_CACHE_ENTRIES, maxBytes = DEFAULT_CACHE_BYTES) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  /** The cached reply for the question if it is still what `index` would answer. */
  get(variant: number, key: string, index: RecordIndex): CacheLookup {
    this.follow(index);
    const entries = this.variants.get(variant);
    const entry = entries?.get(key);
    if (entry === undefined) return "miss";
    if (stillFresh(index, entry.stamp)) {
      entry.referenced = true;
      return entry.response;
    }
    entries?.delete(key);
    this.entries--;
    this.storedBytes -= entry.response.bytes.length;
    return "stale";
  }

  /** Caches a reply computed from `index` just now, reading the names `dependencies` (AnswerReader). */
  set(
    variant: number,
    key: string,
    index: RecordIndex,
    response: CachedResponse,
    dependencies: Iterable<string>,
  ): void {
    const length = response.bytes.length;
    if (length > this.maxBytes) return;
    this.follow(index);
    const previous = this.variants.get(variant)?.get(key);
    if (previous !== undefined) {
      this.variants.get(variant)?.delete(key);
      this.entries--;
      this.storedBytes -= previous.response.bytes.length;
    }
    while (this.entries >= this.maxEntries || this.storedBytes + length > this.maxBytes) {
      if (!this.evictOne()) break;
    }
    let entries = this.variants.get(variant);
    if (entries === undefined) {
      entries = new Map();
      this.variants.set(variant, entries);
    }
    entries.set(key, { response, stamp: stampOf(index, dependencies), referenced: false });
    this.entries++;
    this.storedBytes += length;
  }

  get size(): number {
    return this.entries;
  }

  /** Bytes of the cached replies. */
  get bytes(): number {
    return this.storedBytes;
  }

  /** A swapped-in index has no history of the one before (its lastChange cannot vouch for old entries). */
  private follow(index: RecordIndex): void {
    if (index === this.index) return;
    this.clear();
    this.index = index;
  }

  /**
   * Drops one entry, oldest first, giving each referenced entry on the way a second chance (its flag
   * cleared, moved to the end of its variant). Ends within two passes: a second chance clears the flag.
   * False when there was nothing to drop.
   */
  private evictOne(): boolean {
    for (const [variant, entries] of this.variants) {
      for (const [key, entry] of entries) {
        entries.delete(key);
        if (entry.referenced) {
          entry.referenced = false;
          entries.set(key, entry);
          continue;
        }
        this.entries--;
        this.storedBytes -= entry.response.bytes.length;
        if (entries.size === 0) this.variants.delete(variant);
        return true;
      }
      this.variants.delete(variant);
    }
    return false;
  }

  private clear(): void {
    this.variants.clear();
    this.entries = 0;
    this.storedBytes = 0;
  }
}

const SOA_TYPE = 6;

/** Offsets of the serial field of every SOA record in the answer and authority sections of an encoded reply. */
export function soaSerialOffsets(reply: Buffer): number[] {
  const found: number[] = [];
  if (reply.length < QNAME_OFFSET) return found;
  const records = reply.readUInt16BE(6) + reply.readUInt16BE(8);
  let offset = QNAME_OFFSET;
  for (let i = 0; i < reply.readUInt16BE(4); i++) {
    const end = skipName(reply, offset);
    if (end < 0) return found;
    offset = end + 4;
  }
  for (let i = 0; i < records; i++) {
    const nameEnd = skipName(reply, offset);
    if (nameEnd < 0 || nameEnd + 10 > reply.length) return found;
    if (reply.readUInt16BE(nameEnd) === SOA_TYPE) {
      const mnameEnd = skipName(reply, nameEnd + 10);
      const rnameEnd = mnameEnd < 0 ? -1 : skipName(reply, mnameEnd);
      if (rnameEnd >= 0 && rnameEnd + 4 <= reply.length) found.push(rnameEnd);
    }
    offset = skipRecord(reply, offset);
    if (offset < 0) return found;
  }
  return found;
}

const keyScratch = Buffer.allocUnsafe(255 + 4);

/** The question (name lowercased in ASCII, type, class) as one flat latin1 string. */
export function questionKey(packet: Buffer, qnameStart: number, qnameEnd: number): string {
  const length = qnameEnd - qnameStart + 4;
  for (let i = 0; i < length; i++) {
    const byte = packet[qnameStart + i]!;
    keyScratch[i] = i < qnameEnd - qnameStart && byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
  }
  return keyScratch.toString("latin1", 0, length);
}

/**
 * A copy of a cached reply for this query: its id, RD and CD bits and the question name exactly as
 * asked (same length by construction: the cache key is the lowercased wire name).
 */
export function patchCached(template: Buffer, query: Buffer, qnameEnd: number): Buffer {
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = (out[2]! & 0xfe) | (query[2]! & 0x01);
  out[3] = (out[3]! & 0xef) | (query[3]! & 0x10);
  query.copy(out, 12, 12, qnameEnd);
  return out;
}

/** Writes the zones' current serials into a copy of a cached reply. */
export function writeSerials(out: Buffer, slots: readonly SerialSlot[], serialOf: (zone: string) => number): void {
  for (const slot of slots) out.writeUInt32BE(serialOf(slot.zone), slot.offset);
}
