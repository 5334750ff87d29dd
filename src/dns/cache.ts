// Encoded responses for repeated questions. Entries are valid for one index generation: the first
// lookup after the index changes drops them all. The cache is bounded both in entries and in bytes
// (TCP replies reach 64 KiB each); a full cache is simply emptied (no LRU bookkeeping on the hot
// path), so a flood of distinct names costs misses, never memory.

export interface CachedResponse {
  /** The encoded reply to the first asker; id, RD/CD bits and question case are patched per query. */
  bytes: Buffer;
  rcode: number;
  truncated: boolean;
}

export const DEFAULT_CACHE_ENTRIES = 100_000;
/** 64 MiB: a thousand full-size TCP replies, or far more typical ones. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Keyed by a variant number (what besides the question shapes the reply: size limit, EDNS, transport)
 * and the question as a flat string (lowercased wire name, type, class): one short string to hash per query.
 */
export class ResponseCache {
  private readonly variants = new Map<number, Map<string, CachedResponse>>();
  private generation = -1;
  private entries = 0;
  private storedBytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  /** At most `maxEntries` entries whose replies total at most `maxBytes` bytes. */
  constructor(maxEntries = DEFAULT_CACHE_ENTRIES, maxBytes = DEFAULT_CACHE_BYTES) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  get(variant: number, key: string, generation: number): CachedResponse | undefined {
    if (generation !== this.generation) {
      this.clear(generation);
      return undefined;
    }
    return this.variants.get(variant)?.get(key);
  }

  set(variant: number, key: string, generation: number, response: CachedResponse): void {
    const length = response.bytes.length;
    if (length > this.maxBytes) return;
    if (generation !== this.generation) this.clear(generation);
    const previous = this.variants.get(variant)?.get(key);
    if (previous !== undefined) {
      this.entries--;
      this.storedBytes -= previous.bytes.length;
    }
    if (this.entries >= this.maxEntries || this.storedBytes + length > this.maxBytes) this.clear(generation);
    let entries = this.variants.get(variant);
    if (entries === undefined) {
      entries = new Map();
      this.variants.set(variant, entries);
    }
    entries.set(key, response);
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

  private clear(generation: number): void {
    this.variants.clear();
    this.entries = 0;
    this.storedBytes = 0;
    this.generation = generation;
  }
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
