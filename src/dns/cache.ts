// Encoded responses for repeated questions. Entries are valid for one index generation: the first
// lookup after the index changes drops them all. A full cache is simply emptied (no LRU bookkeeping
// on the hot path); a flood of distinct names costs misses, never memory.

export interface CachedResponse {
  /** The encoded reply to the first asker; id, RD/CD bits and question case are patched per query. */
  bytes: Buffer;
  rcode: number;
  truncated: boolean;
}

/**
 * Keyed by a variant number (what besides the question shapes the reply: size limit, EDNS, transport)
 * and the question as a flat string (lowercased wire name, type, class): one short string to hash per query.
 */
export class ResponseCache {
  private readonly variants = new Map<number, Map<string, CachedResponse>>();
  private generation = -1;
  private entries = 0;
  private readonly maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.maxEntries = maxEntries;
  }

  get(variant: number, key: string, generation: number): CachedResponse | undefined {
    if (generation !== this.generation) {
      this.clear(generation);
      return undefined;
    }
    return this.variants.get(variant)?.get(key);
  }

  set(variant: number, key: string, generation: number, response: CachedResponse): void {
    if (generation !== this.generation || this.entries >= this.maxEntries) this.clear(generation);
    let entries = this.variants.get(variant);
    if (entries === undefined) {
      entries = new Map();
      this.variants.set(variant, entries);
    }
    if (!entries.has(key)) this.entries++;
    entries.set(key, response);
  }

  get size(): number {
    return this.entries;
  }

  private clear(generation: number): void {
    this.variants.clear();
    this.entries = 0;
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
